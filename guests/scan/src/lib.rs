//! The `scan` component: `attach:media/scan` over media-scan. Thin by design: the rules live
//! in the library, which is tested and fuzzed natively.

wit_bindgen::generate!({ world: "scanner", path: "../../wit" });

use exports::attach::media::scan::{Finding, Guest, Report, Verdict};

include!("../../common.rs");

struct Component;

impl Guest for Component {
    fn scan(data: Vec<u8>, declared_mime: String, limits: Limits) -> Result<Report, MediaError> {
        let report = media_scan::scan(&data, &declared_mime, &limits_from_wit(limits))
            .map_err(error_to_wit)?;
        Ok(Report {
            verdict: verdict_to_wit(report.verdict),
            kind: kind_to_wit(report.kind),
            findings: report
                .findings
                .into_iter()
                .map(|f| Finding {
                    rule: f.rule.to_string(),
                    verdict: verdict_to_wit(f.verdict),
                    detail: f.detail,
                })
                .collect(),
        })
    }
}

fn verdict_to_wit(v: media_scan::Verdict) -> Verdict {
    match v {
        media_scan::Verdict::Clean => Verdict::Clean,
        media_scan::Verdict::Suspicious => Verdict::Suspicious,
        media_scan::Verdict::Reject => Verdict::Reject,
    }
}

export!(Component);
