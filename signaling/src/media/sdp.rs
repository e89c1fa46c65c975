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
