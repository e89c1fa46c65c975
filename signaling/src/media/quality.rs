//! Weak-link decisions for one subscriber: when to drop his video and when to try it again.
//! Pure, driven by one sample per quality interval, so the policy is tested without a network.
//!
//! The signals are what the subscriber's own receiver reports say (RFC 3550 fraction lost on
//! the streams we send him) and, when his client sends one, a REMB estimate. A loss-free
//! report says nothing about capacity, so the downlink estimate exists only under loss: the
//! rate that got through (`sent × (1 − loss)`). Audio is never dropped: audio-only means video
//! stops so that the audio has the link to itself.

use std::time::{Duration, Instant};

/// One quality interval of a subscriber's downlink.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkSample {
    /// Bits per second we sent him over the interval (all media, retransmissions included).
    pub sent_bps: f64,
    /// Highest fraction lost among the receiver reports of the interval (0..1), if any came.
    pub loss: Option<f64>,
    /// His REMB estimate, if fresh.
    pub remb_bps: Option<f64>,
}

impl LinkSample {
    /// The downlink estimate, when there is evidence of a limit.
    pub fn estimate_bps(&self) -> Option<f64> {
        let by_loss = match self.loss {
            Some(l) if l >= 0.02 => Some(self.sent_bps * (1.0 - l)),
            _ => None,
        };
        match (by_loss, self.remb_bps) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    AudioOnly,
    VideoBack,
}

#[derive(Debug, Clone)]
pub struct LinkPolicy {
    pub threshold_bps: f64,
    pub max_loss: f64,
    pub probe_after: Duration,
}

/// The per-subscriber state machine.
#[derive(Debug, Clone)]
pub struct LinkController {
    policy: LinkPolicy,
    audio_only: bool,
    bad_in_a_row: u32,
    /// While audio-only: when video may be tried again.
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Just after video came back: a bad sample now means the try failed.
    probing_until: Option<Instant>,
}

impl LinkController {
    pub fn new(policy: LinkPolicy) -> Self {
        let backoff = policy.probe_after;
        Self {
            policy,
            audio_only: false,
            bad_in_a_row: 0,
            retry_at: None,
            backoff,
            probing_until: None,
        }
    }

    pub fn audio_only(&self) -> bool {
        self.audio_only
    }

    fn bad(&self, s: &LinkSample) -> bool {
        s.loss.is_some_and(|l| l >= self.policy.max_loss)
            || s.estimate_bps()
                .is_some_and(|e| e < self.policy.threshold_bps)
    }

    /// Feeds one interval; returns the switch to make, if any.
    pub fn sample(&mut self, now: Instant, s: &LinkSample) -> Option<Switch> {
        let bad = self.bad(s);
        if self.audio_only {
            if bad {
                // Still bad even with audio alone: wait longer before trying video.
                self.retry_at = Some(now + self.backoff);
                return None;
            }
            if self.retry_at.is_some_and(|t| now >= t) {
                self.audio_only = false;
                self.retry_at = None;
                self.bad_in_a_row = 0;
                self.probing_until = Some(now + self.policy.probe_after);
                return Some(Switch::VideoBack);
            }
            return None;
        }
        if bad {
            self.bad_in_a_row += 1;
        } else {
            self.bad_in_a_row = 0;
        }
        let probing = self.probing_until.is_some_and(|t| now < t);
        if !probing && self.probing_until.take().is_some() {
            // The try held: the next fall starts from the base backoff.
            self.backoff = self.policy.probe_after;
        }
        // Two bad intervals in a row (one while a try is on) switch video off.
        if (probing && bad) || self.bad_in_a_row >= 2 {
            if probing {
                self.backoff = (self.backoff * 2).min(self.policy.probe_after * 8);
            }
            self.audio_only = true;
            self.bad_in_a_row = 0;
            self.probing_until = None;
            self.retry_at = Some(now + self.backoff);
            return Some(Switch::AudioOnly);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LinkPolicy {
        LinkPolicy {
            threshold_bps: 150_000.0,
            max_loss: 0.2,
            probe_after: Duration::from_secs(10),
        }
    }

    fn s(sent: f64, loss: Option<f64>) -> LinkSample {
        LinkSample {
            sent_bps: sent,
            loss,
            remb_bps: None,
        }
    }

    #[test]
    fn estimate_needs_evidence_of_a_limit() {
        assert_eq!(s(1e6, None).estimate_bps(), None);
        assert_eq!(s(1e6, Some(0.0)).estimate_bps(), None);
        assert_eq!(
            s(1e6, Some(0.9)).estimate_bps().map(f64::round),
            Some(100_000.0)
        );
        let remb = LinkSample {
            remb_bps: Some(80_000.0),
            ..s(1e6, Some(0.0))
        };
        assert_eq!(remb.estimate_bps(), Some(80_000.0));
    }

    #[test]
    fn a_throttled_link_goes_audio_only_and_comes_back_when_it_recovers() {
        let mut c = LinkController::new(policy());
        let t0 = Instant::now();
        let sec = |n| t0 + Duration::from_secs(n);
        // Healthy video without loss: nothing happens, however small the rate.
        assert_eq!(c.sample(sec(1), &s(90_000.0, Some(0.0))), None);
        // 1.5 Mbit/s sent, 93 % lost: about 100 kbit/s got through. Twice → audio-only.
        assert_eq!(c.sample(sec(2), &s(1.5e6, Some(0.93))), None);
        assert_eq!(
            c.sample(sec(3), &s(1.5e6, Some(0.93))),
            Some(Switch::AudioOnly)
        );
        assert!(c.audio_only());
        // Audio alone passes; after the probe delay video is tried again.
        assert_eq!(c.sample(sec(5), &s(50_000.0, Some(0.0))), None);
        assert_eq!(
            c.sample(sec(13), &s(50_000.0, Some(0.0))),
            Some(Switch::VideoBack)
        );
        // The try fails at once: back to audio-only with a doubled wait.
        assert_eq!(
            c.sample(sec(14), &s(1.5e6, Some(0.5))),
            Some(Switch::AudioOnly)
        );
        assert_eq!(c.sample(sec(30), &s(50_000.0, None)), None);
        assert_eq!(
            c.sample(sec(34), &s(50_000.0, None)),
            Some(Switch::VideoBack)
        );
        // This time it holds.
        for n in 35..60 {
            assert_eq!(c.sample(sec(n), &s(1.5e6, Some(0.0))), None);
        }
        assert!(!c.audio_only());
    }

    #[test]
    fn heavy_loss_alone_switches_even_when_the_rate_is_high() {
        let mut c = LinkController::new(policy());
        let t0 = Instant::now();
        assert_eq!(c.sample(t0, &s(3e6, Some(0.3))), None);
        assert_eq!(
            c.sample(t0 + Duration::from_secs(1), &s(3e6, Some(0.3))),
            Some(Switch::AudioOnly)
        );
    }
}
