//! One printable static page for a member: the account, the year table, and the statement with
//! the running balance and the rule applied to each event. No scripts, no external resources.
//!
//! This is the engineer's view (English headings, log order, rule tags), for audits and
//! disputes; what a member is sent is the annual statement
//! ([`crate::projection::annual`], `annual-statement`).

use crate::domain::wire_name;
use crate::projection::{AccountView, Statement};

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page for a member's account and statement.
pub fn statement_page(view: &AccountView, statement: &Statement) -> String {
    let mut page = String::new();
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    page.push_str(&format!(
        "<title>Audit statement of member {}</title>\n",
        esc(&view.member.to_string())
    ));
    page.push_str(
        "<style>body{font-family:sans-serif;margin:2em;font-size:12px}\
         table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;padding:2px 6px}\
         td.n{text-align:right;font-variant-numeric:tabular-nums}tr.rev td{text-decoration:line-through;color:#777}\
         .rule{color:#555;font-size:11px}thead{display:table-header-group}tr{break-inside:avoid}\
         @page{size:A4;margin:15mm;@bottom-center{content:counter(page) \" / \" counter(pages)}}\
         @media print{body{margin:0}}</style></head><body>\n",
    );
    page.push_str(
        "<h1>Audit statement of a personal account (<span lang=\"zh-CN\">个人账户明细</span>): \
         engineer's view</h1>\n<p>Every event in log order with the rule that decided it. The \
         statement a member is sent is <code>member-ledger annual-statement MEMBER --year YEAR</code> \
         (<span lang=\"zh-CN\">年度对账单</span>).</p>\n",
    );
    let benefits = view
        .benefits_from
        .map_or_else(|| "-".to_string(), |d| d.to_string());
    page.push_str(&format!(
        "<p>Member <b>{}</b>, region {}, {} scheme, born {}, enrolled {}.<br>\
         Status <b>{}</b> on {}; benefits from {}.<br>\
         Balance <b>{}</b> (credited {}, debited {}); months {} actual + {} deemed = <b>{}</b>.<br>\
         Ledger position {}.</p>\n",
        esc(&view.member.to_string()),
        esc(&view.region),
        wire_name(&view.scheme),
        view.birth_date,
        view.enrolled_on,
        wire_name(&view.status),
        view.as_of,
        benefits,
        view.balance,
        view.credited,
        view.debited,
        view.months.actual,
        view.months.deemed,
        view.months.total,
        view.position
    ));
    page.push_str("<h2>Years</h2>\n<table><thead><tr><th>year</th><th>months</th><th>base</th><th>employee</th><th>employer</th><th>personal account</th><th>refunded</th></tr></thead>\n");
    for y in &view.years {
        page.push_str(&format!(
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>\n",
            y.year, y.months, y.totals.base, y.totals.employee, y.totals.employer, y.totals.personal_account, y.totals.refunded
        ));
    }
    page.push_str("</table>\n<h2>Statement</h2>\n<table><thead><tr><th>position</th><th>date</th><th>event</th><th>change</th><th>balance</th><th>months</th><th>details and rule applied</th></tr></thead>\n");
    for l in &statement.lines {
        let class = if l.reversed_by.is_some() {
            " class=rev"
        } else {
            ""
        };
        let reversed = l
            .reversed_by
            .map_or_else(String::new, |p| format!(" (reversed by position {p})"));
        let rule = l.rule.as_deref().map_or_else(String::new, |r| {
            format!("<br><span class=rule>{}</span>", esc(r))
        });
        page.push_str(&format!(
            "<tr{class}><td class=n>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}{}{rule}</td></tr>\n",
            l.position,
            l.date,
            esc(&l.event_type),
            l.balance_change,
            l.balance,
            l.months_actual + l.months_deemed,
            esc(&l.description),
            esc(&reversed)
        ));
    }
    page.push_str(&format!(
        "</table>\n<p>Closing balance <b>{}</b>. Each line is an event of the member's ledger; \
         its hash is in the dispute dossier.</p>\n</body></html>\n",
        statement.closing_balance
    ));
    page
}
