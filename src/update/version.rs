//! Release version ordering for `hearth update`'s downgrade check.
//!
//! Precedence follows SemVer 2.0.0, item 11 (<https://semver.org/#spec-item-11>): the
//! dot-separated core numbers compare numerically; a version with a pre-release (`-…`) sorts
//! below the same version without one; pre-release identifiers compare one by one (numeric
//! ones numerically, numeric below alphanumeric, alphanumeric ones by ASCII order), and when
//! all shared identifiers are equal the longer list is the greater; build metadata (`+…`) is
//! ignored. Beyond the spec, for versions Hearth accepted before: a leading `v` is skipped,
//! missing core numbers count as `0` (`1.0` equals `1.0.0`), and a non-numeric core part
//! compares like an alphanumeric pre-release identifier. Imports nothing.

use std::cmp::Ordering;

/// Orders two release versions by SemVer 2.0.0 precedence (see the module docs):
/// `1.0.0-rc1` < `1.0.0` < `1.0.1`, `0.10.0` > `0.9.9`, `1.0.0+build.7` = `1.0.0`.
///
/// Never fails: any text is ordered, malformed versions by the same rules part by part.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (a, b) = (Parsed::new(a), Parsed::new(b));
    compare_core(&a.core, &b.core).then_with(|| compare_pre(a.pre.as_deref(), b.pre.as_deref()))
}

/// A version split into its parts; build metadata already dropped.
struct Parsed<'a> {
    core: Vec<&'a str>,
    pre: Option<Vec<&'a str>>,
}

impl<'a> Parsed<'a> {
    fn new(text: &'a str) -> Self {
        let text = text.trim();
        let text = text
            .strip_prefix(['v', 'V'])
            .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
            .unwrap_or(text);
        let text = text
            .split_once('+')
            .map_or(text, |(version, _build)| version);
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre.split('.').collect())),
            None => (text, None),
        };
        Parsed {
            core: core.split('.').collect(),
            pre,
        }
    }
}

/// Core parts pairwise; a missing part is `0`.
fn compare_core(a: &[&str], b: &[&str]) -> Ordering {
    (0..a.len().max(b.len()))
        .map(|i| {
            let x = a.get(i).copied().unwrap_or("0");
            let y = b.get(i).copied().unwrap_or("0");
            compare_identifier(x, y)
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// No pre-release is greater than any pre-release; otherwise identifiers pairwise, then the
/// longer list.
fn compare_pre(a: Option<&[&str]>, b: Option<&[&str]>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => a
            .iter()
            .zip(b)
            .map(|(x, y)| compare_identifier(x, y))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.len().cmp(&b.len())),
    }
}

/// Numeric identifiers compare as numbers (of any length), below alphanumeric ones, which
/// compare by ASCII order.
fn compare_identifier(x: &str, y: &str) -> Ordering {
    match (is_numeric(x), is_numeric(y)) {
        (true, true) => {
            let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => x.cmp(y),
    }
}

fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::compare_versions;
    use std::cmp::Ordering::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("0.10.0", "0.9.9"), Greater);
        assert_eq!(compare_versions("1.0", "1.0.0"), Equal);
        assert_eq!(compare_versions("v1.2.3", "1.2.4"), Less);
        assert_eq!(
            compare_versions(
                "1.0.0-x.100000000000000000000",
                "1.0.0-x.99999999999999999999"
            ),
            Greater
        );
    }

    /// The precedence chain of the spec's item 11 example, plus a release after it.
    #[test]
    fn the_spec_example_is_in_order() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1-rc1",
            "1.0.1",
        ];
        for (i, a) in chain.iter().enumerate() {
            for (j, b) in chain.iter().enumerate() {
                assert_eq!(compare_versions(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn pre_releases_sort_below_the_release() {
        assert_eq!(compare_versions("1.0.0-rc1", "1.0.0"), Less);
        assert_eq!(compare_versions("1.0.0", "1.0.0-rc1"), Greater);
        assert_eq!(compare_versions("1.0.0-rc2", "1.0.0-rc10"), Greater); // alphanumeric
        assert_eq!(compare_versions("1.0.0-2", "1.0.0-10"), Less); // numeric
        assert_eq!(compare_versions("1.0.0-9", "1.0.0-a"), Less);
        assert_eq!(compare_versions("0.9.0", "1.0.0-rc1"), Less);
    }

    #[test]
    fn build_metadata_is_ignored() {
        assert_eq!(compare_versions("1.0.0+build.7", "1.0.0"), Equal);
        assert_eq!(compare_versions("1.0.0+b", "1.0.0+a"), Equal);
        assert_eq!(
            compare_versions("1.0.0-rc.1+sha.5114f85", "1.0.0-rc.1"),
            Equal
        );
        assert_eq!(compare_versions("1.0.0-rc.1+zzz", "1.0.0"), Less);
        // A `-` inside build metadata is not a pre-release.
        assert_eq!(compare_versions("1.0.0+build-1", "1.0.0"), Equal);
    }
}
