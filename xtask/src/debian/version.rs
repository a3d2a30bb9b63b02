//! Debian version ordering (`dpkg --compare-versions`), for picking the
//! newest version of a series.

use std::cmp::Ordering;

/// Compares two Debian versions (`[epoch:]upstream[-revision]`) as dpkg does.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| compare_part(ua, ub))
        .then_with(|| compare_part(ra, rb))
}

fn split(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) if e.bytes().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), rest),
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((up, rev)) => (epoch, up, rev),
        None => (epoch, rest, ""),
    }
}

/// dpkg's character weight: `~` sorts before everything (even the end),
/// letters before other characters.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

fn compare_part(mut a: &str, mut b: &str) -> Ordering {
    while !a.is_empty() || !b.is_empty() {
        // Non-digit prefix, character by character.
        let na = a.bytes().take_while(|c| !c.is_ascii_digit()).count();
        let nb = b.bytes().take_while(|c| !c.is_ascii_digit()).count();
        let (sa, sb) = (&a.as_bytes()[..na], &b.as_bytes()[..nb]);
        for i in 0..na.max(nb) {
            let o = weight(sa.get(i).copied()).cmp(&weight(sb.get(i).copied()));
            if o != Ordering::Equal {
                return o;
            }
        }
        a = &a[na..];
        b = &b[nb..];
        // Digit run, numerically.
        let da = a.bytes().take_while(u8::is_ascii_digit).count();
        let db = b.bytes().take_while(u8::is_ascii_digit).count();
        let va = a[..da].trim_start_matches('0');
        let vb = b[..db].trim_start_matches('0');
        let o = va.len().cmp(&vb.len()).then_with(|| va.cmp(vb));
        if o != Ordering::Equal {
            return o;
        }
        a = &a[da..];
        b = &b[db..];
    }
    Ordering::Equal
}

/// Whether the upstream part of a Debian version belongs to `series`
/// (`"7.3.4-1~bpo13+1"` is in `"7.3"`, `"7.30.1-1"` is not).
pub fn in_series(version: &str, series: &str) -> bool {
    let (_, upstream, _) = split(version);
    upstream
        .strip_prefix(series)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '+', '~', '-']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn dpkg_order() {
        assert_eq!(compare("7.3.4-1~bpo13+1", "7.3.4-1"), Less);
        assert_eq!(compare("7.2.13-1", "7.2.9-1~bpo13+1"), Greater);
        assert_eq!(compare("6.19.13-1~bpo13+1", "6.19.13-1~bpo13+1"), Equal);
        assert_eq!(compare("1:1.0", "2.0"), Greater);
        assert_eq!(compare("1.0~rc1-1", "1.0-1"), Less);
        assert_eq!(compare("1.0a", "1.0+"), Less);
        assert_eq!(compare("1.01", "1.1"), Equal);
        assert_eq!(compare("7.3.4", "7.3"), Greater);
    }

    #[test]
    fn series() {
        assert!(in_series("7.3.4-1~bpo13+1", "7.3"));
        assert!(in_series("6.19.13-1~bpo13+1", "6.19"));
        assert!(!in_series("7.30.1-1", "7.3"));
        assert!(!in_series("6.1.187-1", "6.19"));
        assert!(in_series("7.3.4+deb13", "7.3"));
    }
}
