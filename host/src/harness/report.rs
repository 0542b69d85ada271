//! The report formats: JSON, JUnit XML (which CI systems display) and a
//! self-contained HTML page with annotated thumbnails.

use std::time::Duration;

use base64::Engine as _;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde_json::json;

use super::{Status, TestReport};

pub(super) fn serialize_ms<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((duration.as_secs_f64() * 1e6).round() / 1e3)
}

impl TestReport {
    /// The report as JSON: package, counts, and every check.
    pub fn to_json(&self) -> serde_json::Value {
        let (pass, warn, fail) = self.counts();
        json!({
            "package": self.package,
            "passed": self.passed(),
            "counts": { "pass": pass, "warn": warn, "fail": fail },
            "checks": self.checks,
        })
    }

    /// The report as JUnit XML: one test case per check, a failure element for
    /// each FAIL and a `system-out` line with the reason of every check.
    pub fn to_junit_xml(&self) -> String {
        let (_, _, fail) = self.counts();
        let total: f64 = self.checks.iter().map(|c| c.duration.as_secs_f64()).sum();
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        // Writing into a Vec cannot fail: the results are ignored on purpose.
        let _ = writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        let mut suites = BytesStart::new("testsuites");
        suites.push_attribute(("name", "pv-host test"));
        let _ = writer.write_event(Event::Start(suites));
        let mut suite = BytesStart::new("testsuite");
        let (tests, failures, time) = (self.checks.len().to_string(), fail.to_string(), format!("{total:.3}"));
        suite.push_attribute(("name", self.package.as_str()));
        suite.push_attribute(("tests", tests.as_str()));
        suite.push_attribute(("failures", failures.as_str()));
        suite.push_attribute(("errors", "0"));
        suite.push_attribute(("time", time.as_str()));
        let _ = writer.write_event(Event::Start(suite));
        for check in &self.checks {
            let mut case = BytesStart::new("testcase");
            let time = format!("{:.3}", check.duration.as_secs_f64());
            case.push_attribute(("classname", check.group.as_str()));
            case.push_attribute(("name", check.name.as_str()));
            case.push_attribute(("time", time.as_str()));
            let _ = writer.write_event(Event::Start(case));
            if check.status == Status::Fail {
                let mut failure = BytesStart::new("failure");
                failure.push_attribute(("message", check.reason.as_str()));
                let _ = writer.write_event(Event::Empty(failure));
            }
            let _ = writer.write_event(Event::Start(BytesStart::new("system-out")));
            let line = format!("{:?}: {}", check.status, check.reason);
            let _ = writer.write_event(Event::Text(BytesText::new(&line)));
            let _ = writer.write_event(Event::End(BytesEnd::new("system-out")));
            let _ = writer.write_event(Event::End(BytesEnd::new("testcase")));
        }
        let _ = writer.write_event(Event::End(BytesEnd::new("testsuite")));
        let _ = writer.write_event(Event::End(BytesEnd::new("testsuites")));
        String::from_utf8_lossy(&writer.into_inner()).into_owned()
    }

    /// The report as one HTML page with no outside references: the checks as a
    /// table and one annotated thumbnail per image (expected rects dashed
    /// yellow, drawn just outside their place so a defect found there shows
    /// too; defects red, positions green), each rect tagged with its number and
    /// listed with its label in a legend under the image, where labels never
    /// collide however many rects there are.
    pub fn to_html(&self) -> String {
        let (pass, warn, fail) = self.counts();
        let mut html = String::from(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>pv-host test report</title>\n\
             <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:4px 8px;\
             border-bottom:1px solid #ddd;text-align:left}.PASS{color:#1a7f37}.WARN{color:#9a6700}.FAIL{color:#cf222e;\
             font-weight:bold}figure{display:inline-block;vertical-align:top;margin:8px;max-width:480px}\
             figcaption{font-size:small}ol.legend{font-size:small;margin:4px 0;padding-left:2.5em}\
             .swatch{display:inline-block;width:0.8em;height:0.8em;margin-right:0.3em;vertical-align:middle}</style></head><body>\n",
        );
        html.push_str(&format!(
            "<h1>pv-host test: {}</h1>\n<p>{pass} passed, {warn} warned, {fail} failed</p>\n<table>\n\
             <tr><th>check</th><th>result</th><th>reason</th><th>ms</th></tr>\n",
            escape(&self.package)
        ));
        for check in &self.checks {
            let status = format!("{:?}", check.status).to_uppercase();
            html.push_str(&format!(
                "<tr><td>{}</td><td class=\"{status}\">{status}</td><td>{}</td><td>{:.1}</td></tr>\n",
                escape(&check.name),
                escape(&check.reason),
                check.duration.as_secs_f64() * 1e3
            ));
        }
        html.push_str("</table>\n<h2>Images</h2>\n");
        for thumbnail in &self.thumbnails {
            let data = base64::engine::general_purpose::STANDARD.encode(&thumbnail.png);
            html.push_str(&format!(
                "<figure><img class=\"thumbnail\" alt=\"{title}\" src=\"data:image/png;base64,{data}\"><figcaption>{title}</figcaption>",
                title = escape(&thumbnail.title)
            ));
            if !thumbnail.legend.is_empty() {
                html.push_str("<ol class=\"legend\">");
                for (mark, text) in &thumbnail.legend {
                    let [r, g, b] = mark.color().0;
                    html.push_str(&format!(
                        "<li><span class=\"swatch\" style=\"background:rgb({r},{g},{b})\"></span>{}: {}</li>",
                        mark.name(),
                        escape(text)
                    ));
                }
                html.push_str("</ol>");
            }
            html.push_str("</figure>\n");
        }
        html.push_str("</body></html>\n");
        html
    }
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}
