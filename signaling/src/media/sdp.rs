//! Text-level handling of candidates: which remote ones ICE may use, and how local ones are
//! advertised behind a 1:1 NAT (the crate gathers on the bound address only).

use std::collections::HashSet;
use std::net::IpAddr;

/// The address and port of a candidate attribute (`candidate:… <ip> <port> typ …`, with or
/// without a leading `a=`); `None` for a hostname (mDNS) or a malformed line.
pub fn candidate_addr(candidate: &str) -> Option<(IpAddr, u16)> {
    let c = candidate.trim().trim_start_matches("a=");
    let mut it = c.split_ascii_whitespace();
    let first = it.next()?;
    if !first.starts_with("candidate:") {
        return None;
    }
    let addr = it.nth(3)?;
    let port = it.next()?;
    Some((addr.parse().ok()?, port.parse().ok()?))
}

/// Replaces the address of a candidate equal to `from` with `to`.
pub fn rewrite_candidate(candidate: &str, from: IpAddr, to: IpAddr) -> String {
    let mut out = Vec::new();
    for (i, tok) in candidate.split(' ').enumerate() {
        if i == 4 && tok.parse::<IpAddr>().ok() == Some(from) {
            out.push(to.to_string());
        } else {
            out.push(tok.to_string());
        }
    }
    out.join(" ")
}

/// Keeps only the `a=candidate` lines whose address passes `keep` (hostnames never pass).
pub fn filter_candidates(sdp: &str, keep: impl Fn(IpAddr) -> bool) -> String {
    map_candidate_lines(sdp, |line| match candidate_addr(line) {
        Some((ip, _)) if keep(ip) => Some(line.to_string()),
        _ => None,
    })
}

/// Rewrites every `a=candidate` line with `from` as its address to `to`.
pub fn rewrite_candidates(sdp: &str, from: IpAddr, to: IpAddr) -> String {
    map_candidate_lines(sdp, |line| Some(rewrite_candidate(line, from, to)))
}

fn map_candidate_lines(sdp: &str, f: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let ending = &line[body.len()..];
        if body.starts_with("a=candidate:") {
            if let Some(l) = f(body) {
                out.push_str(&l);
                out.push_str(ending);
            }
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The first `a=fingerprint` of a description (its DTLS certificate): a new one means a new
/// peer connection on that side.
pub fn fingerprint(sdp: &str) -> Option<String> {
    sdp.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("a=fingerprint:"))
        .map(|f| f.trim().to_ascii_lowercase())
}

/// One media section of a description, as far as forwarding cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaSection {
    /// Port not 0: the section was not rejected.
    pub open: bool,
    /// `a=rtpmap` payload types and encoding names (`opus`, `VP8`…).
    pub rtpmaps: Vec<(u8, String)>,
}

impl MediaSection {
    pub fn has_encoding(&self, name: &str) -> bool {
        self.rtpmaps
            .iter()
            .any(|(_, n)| n.eq_ignore_ascii_case(name))
    }
}

/// The section whose `a=mid` is `mid`.
pub fn media_section(sdp: &str, mid: &str) -> Option<MediaSection> {
    let mut current: Option<(Option<String>, MediaSection)> = None;
    let mut found = None;
    let mut finish = |c: Option<(Option<String>, MediaSection)>| {
        if let Some((Some(m), sec)) = c
            && m == mid
            && found.is_none()
        {
            found = Some(sec);
        }
    };
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            finish(current.take());
            let open = m.split_ascii_whitespace().nth(1).is_some_and(|p| p != "0");
            current = Some((
                None,
                MediaSection {
                    open,
                    rtpmaps: Vec::new(),
                },
            ));
        } else if let Some((m, sec)) = &mut current {
            if let Some(v) = line.strip_prefix("a=mid:") {
                *m = Some(v.trim().to_string());
            } else if let Some(rest) = line.strip_prefix("a=rtpmap:") {
                let mut it = rest.split_ascii_whitespace();
                if let (Some(Ok(pt)), Some(enc)) = (it.next().map(str::parse::<u8>), it.next()) {
                    let name = enc.split('/').next().unwrap_or_default();
                    sec.rtpmaps.push((pt, name.to_string()));
                }
            }
        }
    }
    finish(current);
    found
}

/// The id the description gives the header extension `uri` in its first `kind` ("audio",
/// "video") section that has it; `None` when it has none.
pub fn extmap_id(sdp: &str, kind: &str, uri: &str) -> Option<u8> {
    let mut in_kind = false;
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            in_kind = m.split_ascii_whitespace().next() == Some(kind);
        } else if in_kind && let Some(rest) = line.strip_prefix("a=extmap:") {
            let mut it = rest.split_ascii_whitespace();
            let id = it.next().and_then(|t| t.split('/').next());
            if it.next() == Some(uri)
                && let Some(id) = id.and_then(|t| t.parse().ok())
            {
                return Some(id);
            }
        }
    }
    None
}

/// The SSRCs of the media sections in which the description's author sends (`sendrecv` or
/// `sendonly`, port not 0): what a publisher still publishes after a renegotiation. `None`
/// when a sending section names no SSRC (then nothing can be concluded).
pub fn sending_ssrcs(sdp: &str) -> Option<HashSet<u32>> {
    let mut out = HashSet::new();
    let mut unknown = false;
    let mut section: Option<(bool, bool, Vec<u32>)> = None; // (port open, sends, ssrcs)
    let flush = |s: Option<(bool, bool, Vec<u32>)>, out: &mut HashSet<u32>, unknown: &mut bool| {
        if let Some((open, sends, ssrcs)) = s
            && open
            && sends
        {
            *unknown |= ssrcs.is_empty();
            out.extend(ssrcs);
        }
    };
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            flush(section.take(), &mut out, &mut unknown);
            let open = m.split_ascii_whitespace().nth(1).is_some_and(|p| p != "0");
            section = Some((open, true, Vec::new()));
        } else if let Some((_, sends, ssrcs)) = &mut section {
            match line {
                "a=sendrecv" | "a=sendonly" => *sends = true,
                "a=recvonly" | "a=inactive" => *sends = false,
                _ => {
                    if let Some(rest) = line.strip_prefix("a=ssrc:")
                        && let Some(Ok(ssrc)) =
                            rest.split_ascii_whitespace().next().map(str::parse::<u32>)
                    {
                        ssrcs.push(ssrc);
                    }
                }
            }
        }
    }
    flush(section, &mut out, &mut unknown);
    (!unknown).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "candidate:1 1 udp 2130706431 192.168.1.7 50000 typ host";

    #[test]
    fn candidates_parse_and_rewrite() {
        assert_eq!(
            candidate_addr(C),
            Some((
                "192.168.1.7".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
                50000
            ))
        );
        assert_eq!(candidate_addr(&format!("a={C}")).map(|a| a.1), Some(50000));
        assert_eq!(
            candidate_addr("candidate:1 1 udp 1 abc.local 5 typ host"),
            None
        );
        assert_eq!(candidate_addr("garbage"), None);
        assert_eq!(candidate_addr(""), None);
        let from: IpAddr = [192, 168, 1, 7].into();
        let to: IpAddr = [203, 0, 113, 9].into();
        assert_eq!(
            rewrite_candidate(C, from, to),
            "candidate:1 1 udp 2130706431 203.0.113.9 50000 typ host"
        );
    }

    #[test]
    fn sdp_candidates_filter_and_rewrite() {
        let sdp = "v=0\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\na=candidate:2 1 udp 1 10.0.0.2 5001 typ host\r\na=candidate:3 1 udp 1 x.local 5002 typ host\r\na=end-of-candidates\r\n";
        let kept = filter_candidates(sdp, |ip| ip.is_loopback());
        assert_eq!(
            kept,
            "v=0\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n"
        );
        let nat = rewrite_candidates(&kept, [127, 0, 0, 1].into(), [203, 0, 113, 9].into());
        assert!(nat.contains("203.0.113.9 5000"));
    }

    #[test]
    fn media_sections_are_found_by_mid() {
        let sdp = "v=0\r\nm=audio 9 X 109\r\na=mid:0\r\na=rtpmap:109 opus/48000/2\r\n\
m=video 0 X 0\r\na=mid:1\r\nm=video 9 X 120\r\na=rtpmap:120 VP8/90000\r\na=mid:2\r\n";
        let a = media_section(sdp, "0").unwrap_or_default();
        assert!(a.open && a.has_encoding("OPUS"));
        assert_eq!(a.rtpmaps, vec![(109, "opus".to_string())]);
        let rejected = media_section(sdp, "1").unwrap_or_default();
        assert!(!rejected.open && !rejected.has_encoding("vp8"));
        assert!(media_section(sdp, "2").is_some_and(|v| v.has_encoding("vp8")));
        assert_eq!(media_section(sdp, "3"), None);
    }

    #[test]
    fn extmap_ids_are_read_per_kind() {
        let uri = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
        let sdp = format!(
            "v=0\r\nm=video 9 X 120\r\na=extmap:3 {uri}\r\nm=audio 9 X 109\r\na=extmap:2/recvonly urn:x\r\na=extmap:1/sendrecv {uri}\r\n"
        );
        assert_eq!(extmap_id(&sdp, "audio", uri), Some(1));
        assert_eq!(extmap_id(&sdp, "video", uri), Some(3));
        assert_eq!(
            extmap_id("m=audio 9 X 0\r\na=extmap:x\r\n", "audio", uri),
            None
        );
    }

    #[test]
    fn sending_ssrcs_follow_directions() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\na=ssrc:11 cname:x\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\na=ssrc:22 cname:x\r\n\
m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\na=ssrc:33 cname:x\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\na=ssrc:44 cname:x\r\na=ssrc:45 cname:x\r\n";
        let got = sending_ssrcs(sdp);
        assert_eq!(got, Some(HashSet::from([11, 44, 45])));
        assert_eq!(sending_ssrcs("garbage"), Some(HashSet::new()));
        // A sending section without SSRCs (RID-only simulcast): no conclusion.
        assert_eq!(sending_ssrcs("m=video 9 X 96\r\na=sendonly\r\n"), None);
    }
}
