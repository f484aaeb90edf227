//! The one reconnect and retry backoff: a delay that doubles with each attempt, up to a cap.

use std::time::Duration;

/// The delay before retry `attempt` (0 for the first): `initial · 2^attempt`, at most `max`.
pub fn exponential(initial: Duration, attempt: u32, max: Duration) -> Duration {
    // 2^20 times any initial delay worth waiting is past any cap worth having.
    initial.saturating_mul(1 << attempt.min(20)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let ms = Duration::from_millis;
        let delays: Vec<_> = (0..6)
            .map(|attempt| exponential(ms(200), attempt, ms(5000)))
            .collect();
        assert_eq!(
            delays,
            [ms(200), ms(400), ms(800), ms(1600), ms(3200), ms(5000)]
        );
        assert_eq!(exponential(ms(250), u32::MAX, ms(30_000)), ms(30_000));
        assert_eq!(exponential(Duration::MAX, 3, ms(1)), ms(1));
    }
}
