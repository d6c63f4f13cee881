package vn.egov.examples.agency;

import java.time.Instant;
import java.time.OffsetDateTime;

/**
 * Business time, as the province's stack runs it: {@code anchor + (real now - anchor) * speed}, from {@code
 * EGOV_CLOCK_SPEED} and {@code EGOV_CLOCK_ANCHOR} (an ISO 8601 instant with an offset). Real time when the
 * speed is 1 (production). Every system of a stack, this one and the conformance kit included, must be given
 * the same two values, or their dates disagree.
 */
final class BusinessClock {
  private final double speed;
  private final Instant anchor;

  BusinessClock(double speed, Instant anchor) {
    if (speed <= 0) {
      throw new IllegalArgumentException("the clock's speed must be positive");
    }
    if (speed != 1.0 && anchor == null) {
      throw new IllegalArgumentException("EGOV_CLOCK_SPEED other than 1 needs EGOV_CLOCK_ANCHOR");
    }
    this.speed = speed;
    this.anchor = anchor;
  }

  static BusinessClock fromEnvironment() {
    String speed = System.getenv("EGOV_CLOCK_SPEED");
    String anchor = System.getenv("EGOV_CLOCK_ANCHOR");
    return new BusinessClock(
        speed == null || speed.isBlank() ? 1.0 : Double.parseDouble(speed),
        anchor == null || anchor.isBlank() ? null : OffsetDateTime.parse(anchor).toInstant());
  }

  Instant now() {
    Instant real = Instant.now();
    if (speed == 1.0 || anchor == null) {
      return real;
    }
    double elapsedMillis = (real.toEpochMilli() - anchor.toEpochMilli()) * speed;
    return Instant.ofEpochMilli(anchor.toEpochMilli() + (long) elapsedMillis);
  }
}
