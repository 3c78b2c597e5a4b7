// The labeling budget as a hard cap. Before a request is sent, its worst case (a prompt a little longer than counted,
// and every output token the request allows, at the output price) is reserved beside the requests in flight; it goes
// out only if what earlier runs spent on the same records, what this run spent and every reservation fit in the
// budget, else it waits for requests in flight to settle; once nothing is in flight and it still does not fit, the
// run stops.
// What an answer cost replaces its reservation. An attempt that got no answer but may have been done and billed
// (a timeout, a connection lost, an abort) is counted at its worst case. So the money spent stays within the budget
// as long as the server keeps to the output limit; should an answer cost more than its worst case (a server that
// ignores the limit), later reservations grow by the same ratio.

export class Budget {
  /** This run's spending: what answers cost, and the worst case of attempts that got no answer. */
  private spent = 0;
  private unanswered = 0;
  private reserved = 0;
  private inFlight = 0;
  /** How much the worst cases were beaten by, at most (1 while answers keep to the output limit). */
  private scale = 1;
  private waiting: (() => void)[] = [];
  /** Set once a request did not fit with nothing in flight: nothing more is sent, even a request that would fit. */
  stopped = false;

  /** limitUsd: the budget (undefined: none); spentBeforeUsd: what earlier runs spent on the same records. */
  constructor(
    readonly limitUsd: number | undefined,
    readonly spentBeforeUsd: number,
  ) {}

  /** USD this run has spent, worst cases of unanswered attempts included. */
  get spentUsd(): number {
    return this.spent;
  }

  /** Of spentUsd: the worst case counted for attempts that got no answer. */
  get unansweredUsd(): number {
    return this.unanswered;
  }

  /** The limit less what earlier runs spent (Infinity without a budget). */
  get leftAtStartUsd(): number {
    return this.limitUsd === undefined ? Infinity : this.limitUsd - this.spentBeforeUsd;
  }

  private fits(usd: number): boolean {
    return this.limitUsd === undefined || this.spentBeforeUsd + this.spent + this.reserved + usd <= this.limitUsd;
  }

  /** Reserve a request's worst case (worstUsd: its cost bound, asked only when needed), waiting while others are in
   *  flight; null when the budget stops the run. `check` runs after each wait (abort, crash). */
  async reserve(worstUsd: () => number, check: () => void): Promise<Reservation | null> {
    for (;;) {
      if (this.stopped) return null;
      const amount = this.limitUsd === undefined ? 0 : worstUsd() * this.scale;
      if (this.fits(amount)) {
        this.reserved += amount;
        this.inFlight += 1;
        return new Reservation(this, worstUsd, amount);
      }
      if (this.inFlight === 0) {
        this.stopped = true;
        return null;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
      check();
    }
  }

  /** @internal (Reservation) */
  charge(usd: number, unanswered: boolean): void {
    this.spent += usd;
    if (unanswered) this.unanswered += usd;
  }

  /** @internal (Reservation) */
  grow(ratio: number): void {
    if (ratio > this.scale) this.scale = ratio;
  }

  /** @internal (Reservation) */
  retryFits(): boolean {
    return this.fits(0); // the request's own reservation still stands for its retry
  }

  /** @internal (Reservation) */
  release(amount: number): void {
    this.reserved -= amount;
    this.inFlight -= 1;
    for (const wake of this.waiting.splice(0)) wake();
  }
}

/** One request's place in the budget, from before it is sent until its answer (or failure) is in. */
export class Reservation {
  /** The worst case charged for attempts that got no answer (recorded in the store as unansweredUsd). */
  unansweredUsd = 0;
  private unansweredCount = 0;
  private released = false;

  constructor(
    private readonly budget: Budget,
    private readonly worstUsd: () => number,
    private readonly amount: number,
  ) {}

  /** An attempt got no answer but may have been billed: count its worst case. Returns whether a retry still fits. */
  unanswered(): boolean {
    const usd = this.worstUsd();
    this.unansweredCount += 1;
    this.unansweredUsd += usd;
    this.budget.charge(usd, true);
    return this.budget.retryFits();
  }

  /** The provider counted `n` unanswered attempts in all: count those it did not report one by one. */
  settleUnanswered(n: number): void {
    while (this.unansweredCount < n) this.unanswered();
  }

  /** The answer came: count what it cost. */
  paid(costUsd: number): void {
    this.budget.charge(costUsd, false);
    const worst = this.worstUsd();
    if (worst > 0 && costUsd > worst) this.budget.grow(costUsd / worst);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.release(this.amount);
  }
}
