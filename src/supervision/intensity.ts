/**
 * Restart intensity exactly as OTP's supervisor.erl add_restart/3: keep the restarts
 * at or after now - period, add this one, and give up when there are more than
 * `intensity` of them. One failure event is one restart, however many children the
 * strategy restarts for it. Restarts arrive in time order, so expired ones are dropped
 * from the front: O(1) amortized even with a large intensity.
 */
export class RestartIntensity {
  private times: number[] = [];
  private head = 0;

  constructor(
    readonly intensity: number,
    readonly period: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records a restart; false means the limit is exceeded and the supervisor must fail. */
  add(): boolean {
    const now = this.now();
    this.expire(now);
    this.times.push(now);
    return this.times.length - this.head <= this.intensity;
  }

  /** Restarts counted within the current period. */
  get count(): number {
    this.expire(this.now());
    return this.times.length - this.head;
  }

  reset(): void {
    this.times = [];
    this.head = 0;
  }

  private expire(now: number): void {
    const threshold = now - this.period;
    while (this.head < this.times.length && this.times[this.head]! < threshold) this.head++;
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}
