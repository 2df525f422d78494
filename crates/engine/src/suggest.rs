//! "Did you mean …?" for misspelled names.
//!
//! One place for every suggestion: unknown keys, actions, mapping fields and
//! directives in the engine, and schema errors in `encharge-schema`.

/// The candidate closest to `name` (ignoring case), if it is close enough to be a likely typo:
/// at most a third of `name`'s length away, and at least 2.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    nearest(name, candidates, |_| limit)
}

/// The candidate closest to `name` (ignoring case) within `limit(candidate)` edits.
pub(crate) fn nearest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    limit: impl Fn(&str) -> usize,
) -> Option<&'a str> {
    let name = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (distance(&name, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= limit(c))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["trigger", "action", "mapping", "name", "enabled", "use_defaults"];
        assert_eq!(did_you_mean("triger", names), Some("trigger"));
        assert_eq!(did_you_mean("maping", names), Some("mapping"));
        assert_eq!(did_you_mean("usedefaults", names), Some("use_defaults"));
        assert_eq!(did_you_mean("colour", names), None);
        assert_eq!(did_you_mean("trackEvnt", ["trackEvent", "addTag"]), Some("trackEvent"));
    }
}
