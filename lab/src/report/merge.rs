//! `lab report --merge`: the shares of one suite, run on several machines
//! (`lab suite --partition K/N` in a CI matrix), joined into the results
//! of the whole suite, as if one machine had run it.

use crate::report::results::SuiteResults;
use crate::run::suite::Partition;

/// Joins `shares` (each with where it was read from, for errors) into one
/// suite. Refused unless they are every share of one suite: the same
/// plan (label, stack, backend, seed), each share once, none missing.
pub fn merge(shares: &[(String, SuiteResults)]) -> Result<SuiteResults, String> {
    let Some((first_origin, first)) = shares.first() else {
        return Err("--merge needs the results of every share of the suite".into());
    };
    let share_of = |origin: &str, suite: &SuiteResults| -> Result<Partition, String> {
        suite.partition.ok_or_else(|| {
            format!("{origin} is a whole suite, not a share: only results of `lab suite --partition K/N` merge")
        })
    };
    let count = share_of(first_origin, first)?.count;
    let mut seen: Vec<Option<&str>> = vec![None; count as usize];
    for (origin, suite) in shares {
        let share = share_of(origin, suite)?;
        let same = [
            ("the share count", share.count.to_string(), count.to_string()),
            ("the suite", suite.label.clone(), first.label.clone()),
            ("the stack", suite.stack.to_string(), first.stack.to_string()),
            ("the backend", format!("{:?}", suite.backend), format!("{:?}", first.backend)),
            ("the seed", suite.seed.to_string(), first.seed.to_string()),
        ];
        if let Some((what, theirs, ours)) = same.into_iter().find(|(_, theirs, ours)| theirs != ours) {
            return Err(format!(
                "{origin} is not a share of the same suite as {first_origin}: {what} is {theirs}, not {ours}"
            ));
        }
        let slot = &mut seen[share.index as usize - 1];
        if let Some(earlier) = slot.replace(origin) {
            return Err(format!("share {share} is given twice: {earlier} and {origin}"));
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|index| seen[*index as usize - 1].is_none())
        .map(|index| Partition { index, count }.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "share {} of the suite is missing: a merge of part of a suite would pass what never ran",
            missing.join(", ")
        ));
    }
    let mut whole = SuiteResults {
        partition: None,
        started_unix_ms: shares.iter().map(|(_, s)| s.started_unix_ms).min().unwrap_or(first.started_unix_ms),
        interrupted: shares.iter().any(|(_, s)| s.interrupted),
        runs: shares.iter().flat_map(|(_, s)| s.runs.iter().cloned()).collect(),
        unfinished: shares.iter().flat_map(|(_, s)| s.unfinished.iter().cloned()).collect(),
        ..first.clone()
    };
    // Each run's seed is the base seed plus its place in the plan.
    let place = |seed: u64| seed.wrapping_sub(whole.seed);
    whole.runs.sort_by_key(|r| place(r.seed));
    whole.unfinished.sort_by_key(|u| place(u.seed));
    Ok(whole)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::render::fixtures;

    /// The fixture's three runs, with seeds 10, 11, 12, cut into `count` shares.
    fn shares(count: u32) -> Vec<(String, SuiteResults)> {
        let mut whole = fixtures::suite();
        whole.seed = 10;
        for (k, run) in whole.runs.iter_mut().enumerate() {
            run.seed = 10 + k as u64;
        }
        (1..=count)
            .map(|index| {
                let share = Partition { index, count };
                let runs = whole.runs.iter().enumerate().filter(|(k, _)| share.holds(*k)).map(|(_, r)| r.clone());
                let suite = SuiteResults { partition: Some(share), runs: runs.collect(), ..whole.clone() };
                (format!("shard{index}/results.json"), suite)
            })
            .collect()
    }

    #[test]
    fn every_share_joins_into_the_whole_suite_in_plan_order() {
        let mut given = shares(2);
        given.reverse();
        let whole = merge(&given).expect("merge");
        assert_eq!(whole.partition, None);
        let seeds: Vec<u64> = whole.runs.iter().map(|r| r.seed).collect();
        assert_eq!(seeds, [10, 11, 12]);
        assert_eq!(whole.counts(), fixtures::suite().counts(), "the same verdicts as the suite run whole");
    }

    #[test]
    fn a_merge_of_part_of_a_suite_or_of_different_suites_is_refused() {
        let error = |given: &[(String, SuiteResults)]| merge(given).expect_err("refused");
        let all = shares(3);
        assert!(error(&all[..2]).contains("share 3/3 of the suite is missing"), "{}", error(&all[..2]));
        let twice = [all[0].clone(), all[0].clone(), all[1].clone()];
        assert!(error(&twice).contains("share 1/3 is given twice"));
        let mut other_seed = all.clone();
        other_seed[1].1.seed = 99;
        assert!(error(&other_seed).contains("the seed is 99, not 10"), "{}", error(&other_seed));
        let mut whole = all.clone();
        whole[0].1.partition = None;
        assert!(error(&whole).contains("is a whole suite, not a share"));
        assert!(error(&[]).contains("every share"));
        let mixed = [shares(2)[0].clone(), all[1].clone(), all[2].clone()];
        assert!(error(&mixed).contains("the share count is 3, not 2"), "{}", error(&mixed));
    }
}
