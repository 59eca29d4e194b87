//! The report in JSON, Markdown, SARIF 2.1.0 and one self-contained HTML file.

use super::{Report, Severity, Status};
use serde_json::{Value, json};
use std::fmt::Write;

pub fn json(report: &Report) -> Value {
    json!({
        "generated_at": report.generated_at,
        "dialect": report.dialect,
        "target": report.target,
        "tenants": report.tenants,
        "millis": report.millis,
        "summary": summary(report),
        "controls": report.outcomes.iter().map(|o| json!({
            "id": o.control.id,
            "family": o.control.family,
            "title": o.control.title,
            "severity": o.control.severity,
            "status": o.status,
            "reason": o.reason,
            "rationale": o.control.rationale,
            "source": o.control.source,
            "link": o.control.link,
            "tables": o.control.tables,
            "tenants": o.tenants,
            "findings": o.findings,
            "millis": o.millis,
        })).collect::<Vec<_>>(),
        "since": report.since,
        "changes": report.changes,
        "charts": {
            "role_holders": report.role_holders,
            "credential_expiry": report.credential_expiry,
        },
    })
}

fn summary(report: &Report) -> Value {
    let mut by = serde_json::Map::new();
    for sev in Severity::ALL {
        by.insert(
            sev.as_str().into(),
            json!({
                "pass": report.count(Status::Pass, Some(sev)),
                "fail": report.count(Status::Fail, Some(sev)),
                "not_evaluated": report.count(Status::NotEvaluated, Some(sev)),
                "error": report.count(Status::Error, Some(sev)),
            }),
        );
    }
    let mut by_tenant = serde_json::Map::new();
    for t in &report.tenants {
        let n = |st: Status| report.count_in(t, st);
        by_tenant.insert(
            t.clone(),
            json!({
                "pass": n(Status::Pass),
                "fail": n(Status::Fail),
                "not_evaluated": n(Status::NotEvaluated),
                "error": n(Status::Error),
            }),
        );
    }
    json!({
        "controls": report.outcomes.len(),
        "pass": report.count(Status::Pass, None),
        "fail": report.count(Status::Fail, None),
        "not_evaluated": report.count(Status::NotEvaluated, None),
        "error": report.count(Status::Error, None),
        "by_severity": by,
        "by_tenant": by_tenant,
    })
}

/// With several tenants, each tenant's status of a control, e.g. `t1: fail (3); t2: pass`.
fn tenant_statuses(o: &super::Outcome) -> String {
    o.tenants
        .iter()
        .map(|t| match t.status {
            Status::Fail => format!("{}: fail ({})", t.tenant_id, t.findings),
            st => format!("{}: {}", t.tenant_id, st.as_str()),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Markdown: a summary table, then each failed or not evaluated control with its findings
/// (at most `max_rows` each).
pub fn markdown(report: &Report, max_rows: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Entra ID security posture\n");
    let _ = writeln!(
        s,
        "{} controls on {} ({}), {}: **{} failed**, {} passed, {} not evaluated, {} errors.\n",
        report.outcomes.len(),
        report.target,
        match report.dialect {
            super::Dialect::Sqlite => "SQLite",
            super::Dialect::Postgres => "PostgreSQL",
        },
        report.generated_at,
        report.count(Status::Fail, None),
        report.count(Status::Pass, None),
        report.count(Status::NotEvaluated, None),
        report.count(Status::Error, None),
    );
    let several = report.tenants.len() > 1;
    if several {
        let _ = writeln!(
            s,
            "{} tenants: {}. A control fails when it fails in any tenant, passes when it passes in every tenant.\n",
            report.tenants.len(),
            report.tenants.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "| id | severity | status | findings | title |\n|---|---|---|---|---|"
    );
    for o in &report.outcomes {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            o.control.id,
            o.control.severity.as_str(),
            o.status.as_str(),
            o.findings.len(),
            md_cell(o.control.title)
        );
    }
    if let Some(since) = &report.since {
        let _ = writeln!(s, "\n## Changes since {since}\n");
        for c in &report.changes {
            let _ = writeln!(s, "### {} {} ({})\n", c.id, c.title, c.rows.len());
            if let Some(r) = &c.reason {
                let _ = writeln!(s, "Not evaluated: {r}\n");
            }
            if let Some(n) = &c.note {
                let _ = writeln!(s, "{n}\n");
            }
            if !c.rows.is_empty() {
                let _ = writeln!(
                    s,
                    "| when | tenant | object | name | detail |\n|---|---|---|---|---|"
                );
                for r in c.rows.iter().take(max_rows) {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {} |",
                        md_cell(&r.changed_at),
                        md_cell(&r.tenant_id),
                        md_cell(&r.object_id),
                        md_cell(&r.object_name),
                        md_cell(&r.detail)
                    );
                }
                if c.rows.len() > max_rows {
                    let _ = writeln!(s, "\n…and {} more.", c.rows.len() - max_rows);
                }
                s.push('\n');
            }
        }
    }
    for o in &report.outcomes {
        if o.status == Status::Pass {
            continue;
        }
        let _ = writeln!(
            s,
            "\n## {} {} ({}, {})\n\n{}\n\nSource: {} ({})\n",
            o.control.id,
            o.control.title,
            o.control.severity.as_str(),
            o.status.as_str(),
            o.control.rationale,
            o.control.source,
            o.control.link
        );
        if several {
            let _ = writeln!(s, "Per tenant: {}\n", md_cell(&tenant_statuses(o)));
        }
        if let Some(r) = &o.reason {
            let _ = writeln!(s, "Not evaluated: {r}\n");
        }
        if !o.findings.is_empty() {
            if several {
                let _ = writeln!(s, "| tenant | object | name | detail |\n|---|---|---|---|");
            } else {
                let _ = writeln!(s, "| object | name | detail |\n|---|---|---|");
            }
            for f in o.findings.iter().take(max_rows) {
                let tenant = if several {
                    format!(" {} |", md_cell(&f.tenant_id))
                } else {
                    String::new()
                };
                let _ = writeln!(
                    s,
                    "|{tenant} {} | {} | {} |",
                    md_cell(&f.object_id),
                    md_cell(&f.object_name),
                    md_cell(&f.detail)
                );
            }
            if o.findings.len() > max_rows {
                let _ = writeln!(s, "\n…and {} more.", o.findings.len() - max_rows);
            }
        }
    }
    s
}

/// SARIF 2.1.0: one rule per control, one result per offending object (and one `notApplicable`
/// notification per control not evaluated); with `--since`, the changes (with their tenant) in
/// the run's property bag. The run's logical locations are the tenants; a result's logical
/// location is its object (`tenant/object id`, parent: its tenant) and its property bag names
/// the tenant too.
pub fn sarif(report: &Report) -> Value {
    let level = |s: Severity| match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    };
    let rules: Vec<Value> = report
        .outcomes
        .iter()
        .map(|o| {
            json!({
                "id": o.control.id,
                "name": o.control.title,
                "shortDescription": {"text": o.control.title},
                "fullDescription": {"text": o.control.rationale},
                "helpUri": o.control.link,
                "help": {"text": format!("{} Source: {}", o.control.rationale, o.control.source)},
                "defaultConfiguration": {"level": level(o.control.severity)},
                "properties": {"severity": o.control.severity, "family": o.control.family, "tables": o.control.tables},
            })
        })
        .collect();
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    for (i, o) in report.outcomes.iter().enumerate() {
        for f in &o.findings {
            results.push(json!({
                "ruleId": o.control.id,
                "ruleIndex": i,
                "level": level(o.control.severity),
                "message": {"text": format!("{}: {} ({}) in tenant {}", o.control.title, f.object_name, f.detail, f.tenant_id)},
                "locations": [{"logicalLocations": [
                    {"fullyQualifiedName": format!("{}/{}", f.tenant_id, f.object_id), "name": f.object_name, "kind": "object",
                     "parentIndex": report.tenants.iter().position(|t| *t == f.tenant_id)},
                ]}],
                "partialFingerprints": {"objectId": format!("{}/{}/{}/{}", o.control.id, f.tenant_id, f.object_id, f.detail)},
                "properties": {"tenant_id": f.tenant_id, "object_id": f.object_id},
            }));
        }
        if matches!(o.status, Status::NotEvaluated | Status::Error) {
            notifications.push(json!({
                "descriptor": {"id": o.control.id},
                "level": if o.status == Status::Error { "error" } else { "note" },
                "message": {"text": format!("{} {}: {}", o.control.id, o.status.as_str(), o.reason.clone().unwrap_or_default())},
            }));
        }
    }
    let mut out = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "entrasync check",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/entrasync/entrasync",
                "rules": rules,
            }},
            "invocations": [{"executionSuccessful": true, "toolExecutionNotifications": notifications}],
            // each tenant of the destination; a result's logical location (the object) is in one
            "logicalLocations": report.tenants.iter().map(|t| json!({"name": t, "fullyQualifiedName": t, "kind": "namespace"})).collect::<Vec<_>>(),
            "results": results,
        }],
    });
    if report.since.is_some() {
        // what changed since `--since`, per tenant: not findings, so in the run's property bag
        out["runs"][0]["properties"] = json!({"since": report.since, "changes": report.changes});
    }
    out
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

fn bar_chart(title: &str, bars: &[super::Bar], id: &str) -> String {
    if bars.is_empty() {
        return format!(
            "<figure class=\"chart\" id=\"{id}\"><figcaption>{}</figcaption><p class=\"muted\">No data (table not synced).</p></figure>",
            esc(title)
        );
    }
    let max = bars.iter().map(|b| b.value).max().unwrap_or(1).max(1) as f64;
    let row_h = 22;
    let label_w = 230;
    let width = 640;
    let height = bars.len() * row_h + 10;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = i * row_h + 4;
        let w = ((b.value as f64 / max) * (width - label_w - 50) as f64).max(1.0);
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"lbl\">{}</text><rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" rx=\"3\" class=\"bar\"/><text x=\"{:.1}\" y=\"{}\" class=\"val\">{}</text>",
            label_w - 6,
            y + 14,
            esc(&b.label),
            row_h - 6,
            label_w as f64 + w + 5.0,
            y + 14,
            b.value
        );
    }
    svg.push_str("</svg>");
    format!(
        "<figure class=\"chart\" id=\"{id}\"><figcaption>{}</figcaption>{svg}</figure>",
        esc(title)
    )
}

const CSS: &str = r#"
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--muted:#5f6b7a;--line:#e2e6ec;--crit:#7a1020;--high:#c62828;--medium:#e08a00;--low:#2f6fb3;--info:#6b7785;--pass:#2e7d32;--ne:#8a8f98}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header{background:#18212f;color:#fff;padding:20px 32px}header h1{margin:0 0 4px;font-size:22px}header p{margin:0;color:#c5cbd5;font-size:13px}
main{max-width:1180px;margin:0 auto;padding:20px 24px 60px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin:8px 0 20px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}.card .n{font-size:28px;font-weight:650}.card .t{color:var(--muted);font-size:13px}
.card.fail .n{color:var(--high)}.card.pass .n{color:var(--pass)}.card.ne .n{color:var(--ne)}
table{border-collapse:collapse;width:100%;background:var(--card)}th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#eef1f5;font-weight:600;font-size:13px;cursor:pointer;user-select:none;white-space:nowrap}th.sorted-asc::after{content:" ▲"}th.sorted-desc::after{content:" ▼"}
.sev{display:inline-block;border-radius:4px;padding:0 7px;color:#fff;font-size:12px;font-weight:600;text-transform:uppercase}
.sev-critical{background:var(--crit)}.sev-high{background:var(--high)}.sev-medium{background:var(--medium)}.sev-low{background:var(--low)}.sev-info{background:var(--info)}
.st{font-weight:600}.st-fail{color:var(--high)}.st-pass{color:var(--pass)}.st-not-evaluated,.st-error{color:var(--ne)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:14px;margin-bottom:20px}
.chart{background:var(--card);border:1px solid var(--line);border-radius:10px;margin:0;padding:12px}.chart figcaption{font-weight:600;margin-bottom:6px}
.chart .bar{fill:#3d6fb6}.chart .lbl{font-size:12px;fill:#333}.chart .val{font-size:12px;fill:#555}
.toolbar{display:flex;gap:10px;align-items:center;margin:14px 0}.toolbar input{flex:1;padding:8px 10px;border:1px solid #c9d0da;border-radius:8px;font-size:14px}
.toolbar select{padding:7px;border-radius:8px;border:1px solid #c9d0da}
details.control{background:var(--card);border:1px solid var(--line);border-radius:10px;margin:8px 0;overflow:hidden}
details.control>summary{padding:10px 14px;cursor:pointer;display:flex;gap:10px;align-items:center;flex-wrap:wrap}
details.control>summary .id{font-family:ui-monospace,monospace;font-size:13px;color:var(--muted);min-width:92px}
details.control>summary .title{flex:1;font-weight:550}details.control>summary .count{color:var(--muted);font-size:13px}
.body{padding:4px 16px 14px;border-top:1px solid var(--line)}.body p{margin:8px 0}.muted{color:var(--muted);font-size:13px}
.findings{max-height:420px;overflow:auto;border:1px solid var(--line);border-radius:6px}.findings td{font-size:13px;word-break:break-word}
code{font-size:12px}.tenants{font-size:13px}.tenant-status{margin-right:14px;white-space:nowrap}
"#;

const JS: &str = r#"
function sortTable(th){const t=th.closest('table'),i=[...th.parentNode.children].indexOf(th),asc=!th.classList.contains('sorted-asc');
[...th.parentNode.children].forEach(h=>h.classList.remove('sorted-asc','sorted-desc'));th.classList.add(asc?'sorted-asc':'sorted-desc');
const b=t.tBodies[0],rows=[...b.rows];const k=r=>{const c=r.cells[i];return c.dataset.k!==undefined?c.dataset.k:c.textContent.trim().toLowerCase()};
rows.sort((a,c)=>{const x=k(a),y=k(c),nx=parseFloat(x),ny=parseFloat(y);const r=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?r:-r});rows.forEach(r=>b.appendChild(r))}
document.querySelectorAll('th').forEach(th=>th.addEventListener('click',()=>sortTable(th)));
function filter(){const q=document.getElementById('q').value.toLowerCase(),s=document.getElementById('st').value;
document.querySelectorAll('details.control').forEach(d=>{const okS=!s||d.dataset.status===s;let any=false;
d.querySelectorAll('tbody tr').forEach(r=>{const m=!q||r.textContent.toLowerCase().includes(q);r.style.display=m?'':'none';any=any||m});
const head=d.querySelector('summary').textContent.toLowerCase();const okQ=!q||head.includes(q)||any;d.style.display=okS&&okQ?'':'none';
if(q&&any&&!head.includes(q))d.open=true});
document.querySelectorAll('#overview tbody tr').forEach(r=>{const okS=!s||r.dataset.status===s,okQ=!q||r.textContent.toLowerCase().includes(q);r.style.display=okS&&okQ?'':'none'})}
document.getElementById('q').addEventListener('input',filter);document.getElementById('st').addEventListener('change',filter);
"#;

/// One HTML file, no external resource: summary cards, counts by severity, two charts, an
/// overview table and one collapsible section per control with its searchable, sortable findings
/// (at most `max_rows` each).
pub fn html(report: &Report, max_rows: usize) -> String {
    let mut h = String::new();
    // with one tenant, no tenant column: the header names it
    let several = report.tenants.len() > 1;
    let status_key = |s: Status| s.as_str().replace(' ', "-");
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Entra ID security posture</title><style>{CSS}</style></head><body>\
         <header><h1>Entra ID security posture</h1><p>{} controls · {} · {} · generated {} by entrasync {} in {} ms</p></header><main>",
        report.outcomes.len(),
        esc(&report.target),
        match report.tenants.as_slice() {
            [] => "no tenant".to_string(),
            [one] => format!("tenant <span id=\"tenant\">{}</span>", esc(one)),
            many => format!("<span id=\"tenant-count\">{}</span> tenants", many.len()),
        },
        esc(&report.generated_at),
        env!("CARGO_PKG_VERSION"),
        report.millis
    );
    let _ = write!(
        h,
        "<section class=\"cards\" id=\"summary\">\
         <div class=\"card fail\"><div class=\"n\" id=\"count-fail\">{}</div><div class=\"t\">failed</div></div>\
         <div class=\"card pass\"><div class=\"n\" id=\"count-pass\">{}</div><div class=\"t\">passed</div></div>\
         <div class=\"card ne\"><div class=\"n\" id=\"count-not-evaluated\">{}</div><div class=\"t\">not evaluated</div></div>\
         <div class=\"card ne\"><div class=\"n\" id=\"count-error\">{}</div><div class=\"t\">errors</div></div></section>",
        report.count(Status::Fail, None),
        report.count(Status::Pass, None),
        report.count(Status::NotEvaluated, None),
        report.count(Status::Error, None)
    );
    let _ = write!(
        h,
        "<h2>By severity</h2><table id=\"by-severity\"><thead><tr><th>severity</th><th>failed</th><th>passed</th><th>not evaluated</th><th>errors</th></tr></thead><tbody>"
    );
    for sev in Severity::ALL {
        let _ = write!(
            h,
            "<tr><td data-k=\"{}\"><span class=\"sev sev-{s}\">{s}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            4 - Severity::ALL.iter().position(|x| *x == sev).unwrap_or(0),
            report.count(Status::Fail, Some(sev)),
            report.count(Status::Pass, Some(sev)),
            report.count(Status::NotEvaluated, Some(sev)),
            report.count(Status::Error, Some(sev)),
            s = sev.as_str()
        );
    }
    h.push_str("</tbody></table>");
    if several {
        // controls per status in each tenant
        h.push_str("<h2>By tenant</h2><table id=\"by-tenant\"><thead><tr><th>tenant</th><th>failed</th><th>passed</th><th>not evaluated</th><th>errors</th></tr></thead><tbody>");
        for t in &report.tenants {
            let n = |st: Status| report.count_in(t, st);
            let _ = write!(
                h,
                "<tr data-tenant=\"{t}\"><td class=\"tenant\"><code>{t}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                n(Status::Fail),
                n(Status::Pass),
                n(Status::NotEvaluated),
                n(Status::Error),
                t = esc(t)
            );
        }
        h.push_str("</tbody></table><p class=\"muted\">A control fails when it fails in any tenant and passes when it passes in every tenant; the counts above are per control.</p>");
    }
    let _ = write!(
        h,
        "<h2>Charts</h2><section class=\"charts\">{}{}</section>",
        bar_chart(
            "Active holders per directory role",
            &report.role_holders,
            "chart-roles"
        ),
        bar_chart(
            "Application credentials by month of expiry",
            &report.credential_expiry,
            "chart-expiry"
        )
    );
    h.push_str(
        "<div class=\"toolbar\"><input id=\"q\" type=\"search\" placeholder=\"Search controls and findings…\">\
         <select id=\"st\"><option value=\"\">all statuses</option><option value=\"fail\">failed</option>\
         <option value=\"pass\">passed</option><option value=\"not-evaluated\">not evaluated</option><option value=\"error\">errors</option></select></div>",
    );
    h.push_str("<h2>Controls</h2><table id=\"overview\"><thead><tr><th>id</th><th>severity</th><th>status</th><th>findings</th><th>title</th></tr></thead><tbody>");
    for o in &report.outcomes {
        let sev = o.control.severity;
        let _ = write!(
            h,
            "<tr data-status=\"{st}\" data-id=\"{id}\"><td><a href=\"#{id}\">{id}</a></td><td data-k=\"{}\"><span class=\"sev sev-{s}\">{s}</span></td>\
             <td class=\"st st-{st}\">{}</td><td>{}</td><td>{}</td></tr>",
            sev as u8,
            o.status.as_str(),
            o.findings.len(),
            esc(o.control.title),
            id = o.control.id,
            s = sev.as_str(),
            st = status_key(o.status)
        );
    }
    h.push_str("</tbody></table>");
    if let Some(since) = &report.since {
        let _ = write!(h, "<h2 id=\"changes\">Changes since {}</h2>", esc(since));
        for c in &report.changes {
            let _ = write!(
                h,
                "<details class=\"control\" id=\"{id}\" data-status=\"change\"{open}><summary><span class=\"id\">{id}</span><span class=\"title\">{}</span><span class=\"count\">{} change(s)</span></summary><div class=\"body\">",
                esc(c.title),
                c.rows.len(),
                id = c.id,
                open = if c.rows.is_empty() { "" } else { " open" }
            );
            for r in c.reason.iter().chain(&c.note) {
                let _ = write!(h, "<p class=\"muted\">{}</p>", esc(r));
            }
            if !c.rows.is_empty() {
                h.push_str("<div class=\"findings\"><table><thead><tr><th>when</th><th>tenant</th><th>object id</th><th>name</th><th>detail</th></tr></thead><tbody>");
                for r in c.rows.iter().take(max_rows) {
                    let _ = write!(
                        h,
                        "<tr><td>{}</td><td class=\"tenant\"><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                        esc(&r.changed_at),
                        esc(&r.tenant_id),
                        esc(&r.object_id),
                        esc(&r.object_name),
                        esc(&r.detail)
                    );
                }
                h.push_str("</tbody></table></div>");
                if c.rows.len() > max_rows {
                    let _ = write!(
                        h,
                        "<p class=\"muted\">…and {} more (the JSON output holds them all).</p>",
                        c.rows.len() - max_rows
                    );
                }
            }
            h.push_str("</div></details>");
        }
    }
    h.push_str("<h2>Details</h2>");
    for o in &report.outcomes {
        let st = status_key(o.status);
        let _ = write!(
            h,
            "<details class=\"control\" id=\"{id}\" data-status=\"{st}\"{open}><summary><span class=\"id\">{id}</span>\
             <span class=\"sev sev-{s}\">{s}</span><span class=\"title\">{}</span><span class=\"st st-{st}\">{}</span>\
             <span class=\"count\">{} finding(s)</span></summary><div class=\"body\"><p>{}</p>\
             <p class=\"muted\">Source: {} · <a href=\"{}\">reference</a> · tables: {}</p>",
            esc(o.control.title),
            o.status.as_str(),
            o.findings.len(),
            esc(o.control.rationale),
            esc(o.control.source),
            esc(o.control.link),
            esc(&o.control.tables.join(", ")),
            id = o.control.id,
            s = o.control.severity.as_str(),
            open = if o.status == Status::Fail && o.control.severity >= Severity::High {
                " open"
            } else {
                ""
            }
        );
        if several {
            h.push_str("<p class=\"tenants\">");
            for t in &o.tenants {
                let tst = status_key(t.status);
                let _ = write!(
                    h,
                    "<span class=\"tenant-status\" data-tenant=\"{}\">tenant <code>{}</code>: <span class=\"st st-{tst}\">{}</span>{}</span> ",
                    esc(&t.tenant_id),
                    esc(&t.tenant_id),
                    t.status.as_str(),
                    match t.status {
                        Status::Fail => format!(" ({})", t.findings),
                        _ => String::new(),
                    }
                );
            }
            h.push_str("</p>");
        }
        if let Some(r) = &o.reason {
            let _ = write!(h, "<p class=\"st st-{st}\">{}</p>", esc(r));
        }
        if !o.findings.is_empty() {
            h.push_str("<div class=\"findings\"><table><thead><tr>");
            if several {
                h.push_str("<th>tenant</th>");
            }
            h.push_str("<th>object id</th><th>name</th><th>detail</th></tr></thead><tbody>");
            for f in o.findings.iter().take(max_rows) {
                let tenant = if several {
                    format!(
                        "<td class=\"tenant\"><code>{}</code></td>",
                        esc(&f.tenant_id)
                    )
                } else {
                    String::new()
                };
                let _ = write!(
                    h,
                    "<tr>{tenant}<td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                    esc(&f.object_id),
                    esc(&f.object_name),
                    esc(&f.detail)
                );
            }
            h.push_str("</tbody></table></div>");
            if o.findings.len() > max_rows {
                let _ = write!(
                    h,
                    "<p class=\"muted\">…and {} more (the JSON and SARIF outputs hold them all).</p>",
                    o.findings.len() - max_rows
                );
            }
        }
        h.push_str("</div></details>");
    }
    let _ = write!(h, "</main><script>{JS}</script></body></html>");
    h
}

/// The controls' SQL as a browsable pack: one Markdown page per family, both dialects.
pub fn query_pack() -> Vec<(String, String)> {
    use super::{Dialect, controls::CONTROLS};
    let mut families: Vec<&str> = CONTROLS.iter().map(|c| c.family).collect();
    families.dedup();
    let mut pages = Vec::new();
    let mut index = String::from(
        "# entrasync check: the controls' SQL\n\nGenerated by `entrasync check --write-queries docs/queries` from the catalogue in `crates/entrasync/src/posture/controls.rs`; a test fails when it is stale. Each query returns the offending objects of one tenant as `object_id, object_name, detail`: `entrasync check` runs it once per tenant of the destination, with `'<tenant_id>'` replaced by the tenant's id, and every table it reads is compared on `tenant_id`, so counts and joins stay within the tenant.\n\n| id | severity | family | title |\n|---|---|---|---|\n",
    );
    for fam in &families {
        let mut p = format!("# {fam}\n");
        for c in CONTROLS.iter().filter(|c| c.family == *fam) {
            let _ = writeln!(
                index,
                "| [{}]({fam}.md#{}) | {} | {fam} | {} |",
                c.id,
                c.id.to_ascii_lowercase(),
                c.severity.as_str(),
                md_cell(c.title)
            );
            let _ = write!(
                p,
                "\n## {}\n\n**{}** ({})\n\n{}\n\nSource: {} ({})\n\nTables: {}\n\nSQLite:\n\n```sql\n{}\n```\n\nPostgreSQL:\n\n```sql\n{}\n```\n",
                c.id,
                c.title,
                c.severity.as_str(),
                c.rationale,
                c.source,
                c.link,
                c.tables.join(", "),
                c.query(Dialect::Sqlite, "<tenant_id>"),
                c.query(Dialect::Postgres, "<tenant_id>")
            );
        }
        pages.push((format!("{fam}.md"), p));
    }
    let (page, rows) = watched_page();
    index.push_str(
        "\n## The change log's watched facts\n\nAfter each sync into SQLite or PostgreSQL, `entrasync sync` computes these facts per tenant, diffs them with the previous snapshot (`entrasync_watch`) and appends what was added and removed to `entrasync_changes`; `entrasync check --since` lists them. Each query returns `key, object_id, object_name, detail` of one tenant.\n\n| id | kind | title |\n|---|---|---|\n",
    );
    index.push_str(&rows);
    pages.push(("change-log.md".into(), page));
    pages.insert(0, ("README.md".into(), index));
    pages
}

/// The page of the change log's watched facts ([`super::controls::WATCHED`]) and its rows in the
/// index.
fn watched_page() -> (String, String) {
    use super::{Dialect, controls::WATCHED, watch};
    let tenant = "<tenant_id>";
    let mut rows = String::new();
    let mut p = format!(
        "# change log: the watched facts\n\nWhat `entrasync sync` snapshots per tenant in `{}` after each sync into SQLite or PostgreSQL, so that `entrasync check --since` shows additions *and removals* (rows `added`, `removed` and one `baseline` per kind and tenant in `{}`). A kind is recorded only when every table it reads synced completely in that run. The key is made of ids, so a rename is not a change. `{tenant}` stands for the tenant's id.\n",
        watch::SNAPSHOT_TABLE,
        watch::CHANGES_TABLE
    );
    for w in WATCHED {
        let _ = writeln!(
            rows,
            "| [{}](change-log.md#{}) | `{}` | {} |",
            w.id,
            w.id.to_ascii_lowercase(),
            w.kind,
            md_cell(w.title)
        );
        let _ = write!(
            p,
            "\n## {}\n\n**{}** (kind `{}`)\n\nTables: {}\n\nSQLite:\n\n```sql\n{}\n```\n\nPostgreSQL:\n\n```sql\n{}\n```\n",
            w.id,
            w.title,
            w.kind,
            w.tables.join(", "),
            w.query(Dialect::Sqlite, tenant),
            w.query(Dialect::Postgres, tenant)
        );
    }
    (p, rows)
}
