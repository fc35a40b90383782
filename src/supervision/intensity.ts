/**
 * Restart intensity exactly as OTP's supervisor.erl add_restart/3: keep the restarts
 * at or after now - period, add this one, and give up when there are more than
 * `intensity` of them. One failure event is one restart, however many children the
 * strategy restarts for it.
 */
export class RestartIntensity {
  private times: number[] = [];

  constructor(
    readonly intensity: number,
    readonly period: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records a restart; false means the limit is exceeded and the supervisor must fail. */
  add(): boolean {
    const now = this.now();
    const threshold = now - this.period;
    this.times = this.times.filter((t) => t >= threshold);
    this.times.push(now);
    return this.times.length <= this.intensity;
  }

  /** Restarts counted within the current period. */
  get count(): number {
    const threshold = this.now() - this.period;
    return this.times.filter((t) => t >= threshold).length;
  }

  reset(): void {
    this.times = [];
  }
}
