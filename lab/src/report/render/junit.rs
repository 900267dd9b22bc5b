//! JUnit XML, the lingua franca of CI test dashboards.
//!
//! One `<testsuite>` named after the suite's label, one `<testcase>` per run
//! named `{scenario}#{iteration}` in class `lab.{backend}`, timed by the
//! run's total time. A failed run has a `<failure>` whose message lists the
//! failed checks; every run's `<system-out>` holds its facts on one line. A
//! planned run without a result (an infrastructure error, or not run when
//! the suite was interrupted) has an `<error>`, so no dashboard counts an
//! unfinished suite as green.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{facts_line, failed_checks, fault_name, run_name, serde_name};
use crate::report::results::SuiteResults;

/// The suite as JUnit XML.
pub fn junit(suite: &SuiteResults) -> String {
    let name = if suite.label.is_empty() { "lab" } else { suite.label.as_str() };
    let mut test_suite = TestSuite::new(name);
    test_suite.add_properties([
        Property::new("lab", suite.lab.as_str()),
        Property::new("backend", serde_name(&suite.backend)),
        Property::new("seed", suite.seed.to_string()),
    ]);
    let mut total = Duration::ZERO;
    for run in &suite.runs {
        let time = Duration::try_from_secs_f64(run.timings.total_s).unwrap_or_default();
        total = total.saturating_add(time);
        let status = if run.passed {
            TestCaseStatus::success()
        } else {
            let failed = failed_checks(run);
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let message = if failed.is_empty() { "run failed".to_owned() } else { failed.join("; ") };
            let mut description =
                format!("victim {}, fault {}, seed {}, run {}\n", run.victim, fault_name(run), run.seed, run.run_id);
            for line in &failed {
                description.push_str(&format!("FAIL {line}\n"));
            }
            if let Some(error) = &run.restore_error {
                description.push_str(&format!("restore failed: {error}\n"));
            }
            description.push_str(&format!("replay: lab scenario {} --seed {}\n", run.scenario, run.seed));
            status.set_message(message).set_type("scenario failed").set_description(description);
            status
        };
        let mut case = TestCase::new(run_name(run), status);
        case.set_classname(format!("lab.{}", serde_name(&run.backend)))
            .set_time(time)
            .set_system_out(facts_line(run) + "\n");
        test_suite.add_test_case(case);
    }
    for unfinished in &suite.unfinished {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        let kind = if unfinished.error.is_some() { "infrastructure error" } else { "not run" };
        status
            .set_message(unfinished.reason())
            .set_type(kind)
            .set_description(format!("replay: lab scenario {} --seed {}\n", unfinished.scenario, unfinished.seed));
        let mut case = TestCase::new(unfinished.name(), status);
        case.set_classname(format!("lab.{}", serde_name(&suite.backend)));
        test_suite.add_test_case(case);
    }
    test_suite.set_time(total);
    let mut report = Report::new("lab");
    report.set_time(total).add_test_suite(test_suite);
    report.to_string().unwrap_or_else(|e| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"lab\" tests=\"0\" failures=\"0\" \
             errors=\"1\"><!-- cannot serialize the report: {} --></testsuites>\n",
            e.to_string().replace("--", "- -")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::render::fixtures;

    #[test]
    fn junit_matches_golden() {
        fixtures::assert_golden("junit.xml", &junit(&fixtures::suite()));
    }

    #[test]
    fn junit_has_a_testcase_per_run_and_a_failure_per_failed_run() {
        let xml = junit(&fixtures::suite());
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let suites: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testsuite")).collect();
        assert_eq!(suites.len(), 1);
        assert_eq!(suites[0].attribute("name"), Some("suite"));
        assert_eq!(suites[0].attribute("tests"), Some("3"));
        assert_eq!(suites[0].attribute("failures"), Some("1"));
        let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
        let names: Vec<_> = cases.iter().filter_map(|c| c.attribute("name")).collect();
        assert_eq!(names, ["kill-postgres-master#1", "kill-postgres-master#2", "power-off-master#1"]);
        assert!(cases.iter().all(|c| c.attribute("classname") == Some("lab.container")));
        assert_eq!(cases[0].attribute("time"), Some("112.500"));
        let failures: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("failure")).collect();
        assert_eq!(failures.len(), 1);
        let failure = failures[0];
        assert_eq!(failure.parent().and_then(|p| p.attribute("name")), Some("power-off-master#1"));
        let message = failure.attribute("message").unwrap_or_default();
        assert!(message.contains("write outage: expected ≤ 60000 ms, got 71234 ms"), "{message}");
        assert!(message.contains("lost acknowledged writes: expected ≤ 0, got 1 of 402"), "{message}");
        let description = failure.text().unwrap_or_default();
        assert!(description.contains("victim node1, fault poweroff on master, seed 44"), "{description}");
        let out: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("system-out")).collect();
        assert_eq!(out.len(), 3);
        let facts = out[2].text().unwrap_or_default();
        assert!(facts.contains("lost writes 1 of 402"), "{facts}");
        assert!(facts.contains("new master after 64120 ms"), "{facts}");
    }

    #[test]
    fn an_unlabelled_suite_is_named_lab() {
        let mut suite = fixtures::suite();
        suite.label.clear();
        let xml = junit(&suite);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let name = doc.descendants().find(|n| n.has_tag_name("testsuite")).and_then(|n| n.attribute("name"));
        assert_eq!(name, Some("lab"));
    }
}
