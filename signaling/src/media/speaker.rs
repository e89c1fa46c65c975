//! Active speaker from RFC 6464 audio levels (the `ssrc-audio-level` header extension: 0 is
//! the loudest, 127 silence, in -dBov). Pure: packets' levels in, a decision per tick out.
//!
//! Each publisher's score is the share of his packets in the last window that carried voice
//! (level at or above -50 dBov), weighted by how loud they were. The speaker changes only to
//! someone clearly louder (a margin) who has been speaking for a moment, so a cough or a
//! door does not steal the floor.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Levels quieter than this (-dBov) count as silence.
const VOICE_DBOV: u8 = 50;
const WINDOW: Duration = Duration::from_millis(1500);
/// A challenger must beat the current speaker by this factor.
const MARGIN: f64 = 1.5;
/// A challenger needs at least this score (about a third of the window talking).
const MIN_SCORE: f64 = 0.15;

/// The level byte of an `ssrc-audio-level` extension: V bit and 7-bit level.
pub fn parse_audio_level(ext: &[u8]) -> Option<u8> {
    ext.first().map(|b| b & 0x7f)
}

#[derive(Debug, Default)]
pub struct SpeakerDetector {
    samples: HashMap<String, Vec<(Instant, u8)>>,
    current: Option<String>,
}

impl SpeakerDetector {
    pub fn observe(&mut self, who: &str, at: Instant, level: u8) {
        let v = self.samples.entry(who.to_string()).or_default();
        v.push((at, level));
        // Keep the window bounded even if ticks stall.
        if v.len() > 512 {
            v.drain(..256);
        }
    }

    pub fn forget(&mut self, who: &str) {
        self.samples.remove(who);
        if self.current.as_deref() == Some(who) {
            self.current = None;
        }
    }

    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    fn score(samples: &[(Instant, u8)]) -> f64 {
        if samples.is_empty() {
            return 0.0;
        }
        let voiced: f64 = samples
            .iter()
            .filter(|(_, l)| *l <= VOICE_DBOV)
            .map(|(_, l)| 1.0 + f64::from(VOICE_DBOV - *l) / f64::from(VOICE_DBOV))
            .sum();
        // About 50 packets a second at 20 ms; normalise to the window.
        let expected = WINDOW.as_secs_f64() * 50.0;
        voiced / expected
    }

    /// Drops old samples and decides; `Some(new)` when the speaker changed.
    /// `eligible` filters out who may not speak (muted by the host).
    pub fn tick(&mut self, now: Instant, eligible: impl Fn(&str) -> bool) -> Option<String> {
        let mut best: Option<(String, f64)> = None;
        let mut current_score = 0.0;
        for (who, v) in self.samples.iter_mut() {
            v.retain(|(t, _)| now.duration_since(*t) <= WINDOW);
            if !eligible(who) {
                continue;
            }
            let s = Self::score(v);
            if self.current.as_deref() == Some(who.as_str()) {
                current_score = s;
            }
            if best.as_ref().is_none_or(|(_, b)| s > *b) {
                best = Some((who.clone(), s));
            }
        }
        let (who, score) = best?;
        if self.current.as_deref() == Some(who.as_str()) || score < MIN_SCORE {
            return None;
        }
        if self.current.is_some() && score < current_score * MARGIN {
            return None;
        }
        self.current = Some(who.clone());
        Some(who)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn talk(d: &mut SpeakerDetector, who: &str, from: Instant, ms: u64, level: u8) {
        for i in 0..ms / 20 {
            d.observe(who, from + Duration::from_millis(i * 20), level);
        }
    }

    #[test]
    fn the_loud_one_speaks_and_a_cough_does_not_take_over() {
        let mut d = SpeakerDetector::default();
        let t0 = Instant::now();
        talk(&mut d, "a", t0, 1000, 20);
        talk(&mut d, "b", t0, 1000, 120);
        let at = t0 + Duration::from_millis(1000);
        assert_eq!(d.tick(at, |_| true), Some("a".into()));
        assert_eq!(d.tick(at, |_| true), None, "no change, no event");
        // b coughs for 100 ms while a goes on.
        talk(&mut d, "a", at, 1000, 20);
        talk(&mut d, "b", at, 100, 5);
        assert_eq!(d.tick(at + Duration::from_millis(1000), |_| true), None);
        // a stops, b talks: b takes over.
        let later = at + Duration::from_millis(1000);
        talk(&mut d, "b", later, 1500, 15);
        assert_eq!(
            d.tick(later + Duration::from_millis(1500), |_| true),
            Some("b".into())
        );
        // A muted speaker is not eligible.
        let muted = later + Duration::from_millis(1500);
        talk(&mut d, "a", muted, 1500, 10);
        talk(&mut d, "b", muted, 1500, 10);
        assert_eq!(
            d.tick(muted + Duration::from_millis(1500), |w| w != "b"),
            Some("a".into())
        );
    }

    #[test]
    fn level_byte_ignores_the_voice_bit() {
        assert_eq!(parse_audio_level(&[0x80 | 33]), Some(33));
        assert_eq!(parse_audio_level(&[]), None);
    }
}
