//! The review pages' HTML, in maud templates: every value a patient file
//! brought (names, numbers, cells) is escaped by the template, so a cell
//! written `<script>` is shown as text. No script at all: tabs, paging and
//! finding are links and GET forms, and work with JavaScript off.

use maud::{DOCTYPE, Markup, html};
use presend_host::reasons::national_mobile;
use presend_host::{BatchReport, PatientVerdict, Status};

/// Patients shown on one page of a list.
pub const PAGE_SIZE: usize = 50;

/// Which list of a review is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum View {
    NotAccepted,
    Accepted,
}

impl View {
    pub fn from_query(value: Option<&str>) -> View {
        match value {
            Some("accepted") => View::Accepted,
            _ => View::NotAccepted,
        }
    }

    fn query(self) -> &'static str {
        match self {
            View::NotAccepted => "not-accepted",
            View::Accepted => "accepted",
        }
    }

    fn holds(self, p: &PatientVerdict) -> bool {
        (p.status == Status::Accepted) == (self == View::Accepted)
    }
}

/// The frame every page shares: a skip link, the banner, the main content.
fn layout(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – presend" }
                link rel="stylesheet" href="/assets/presend.css";
            }
            body {
                a.skip-link href="#main" { "Skip to main content" }
                header.banner {
                    div.width {
                        span.logo { "presend" }
                        span.service { "Check a patient list before a batch message" }
                    }
                }
                main #main .width { (content) }
                footer {
                    div.width {
                        p { "Nothing of an uploaded list is stored: a review is kept in this service's memory only, and is gone after a while." }
                    }
                }
            }
        }
    }
}

/// `GET /`: the upload form, with an error when a file could not be used.
pub fn upload(action: &str, error: Option<&str>) -> Markup {
    let content = html! {
        @if let Some(error) = error {
            div.error-summary role="alert" aria-labelledby="error-title" {
                h2 #error-title { "There is a problem with the file" }
                p #error-message .error-message { (error) }
                p { "Fix the file, or export it again from the clinical system, then upload it again." }
            }
        }
        h1 { "Check a patient list" }
        p.lede { "Upload the CSV file of patients for a batch message. You will see who will be messaged, who will not, and why." }
        div.card {
            form method="post" action=(action) enctype="multipart/form-data" {
                label for="file" { "Patient list (CSV)" }
                p #file-hint .hint { "The file needs a header row naming the NHS number and mobile number columns, as SystmOne and EMIS exports do." }
                input #file type="file" name="file" accept=".csv,text/csv" required aria-describedby="file-hint";
                div { button #upload type="submit" { "Check the list" } }
            }
        }
    };
    layout("Check a patient list", content)
}

/// What a list page shows: the view, which page, and what was looked for.
pub struct Listing<'a> {
    pub id: &'a str,
    pub view: View,
    pub page: usize,
    pub find: Option<&'a str>,
}

/// `GET /review/{id}`.
pub fn review(report: &BatchReport, listing: &Listing<'_>) -> Markup {
    let s = &report.summary;
    let not_accepted = s.rejected + s.likely_to_fail;
    let in_view: Vec<&PatientVerdict> = report
        .patients
        .iter()
        .filter(|p| listing.view.holds(p))
        .filter(|p| listing.find.is_none_or(|q| matches(report, p, q)))
        .collect();
    let pages = in_view.len().div_ceil(PAGE_SIZE).max(1);
    let page = listing.page.clamp(1, pages);
    let shown = &in_view
        [((page - 1) * PAGE_SIZE).min(in_view.len())..(page * PAGE_SIZE).min(in_view.len())];
    let base = format!("/review/{}", listing.id);
    let link = |view: View, page: usize| {
        let mut url = format!("{base}?view={}", view.query());
        if page > 1 {
            url.push_str(&format!("&page={page}"));
        }
        url
    };
    let (title, empty) = match listing.view {
        View::NotAccepted => (
            "Patients who will not be messaged",
            "Every patient will be messaged.",
        ),
        View::Accepted => (
            "Patients who will be messaged",
            "No patient will be messaged.",
        ),
    };
    let content = html! {
        h1 { "Your patient list has been checked" }
        div.counts {
            p.count.good #count-accepted { span.number { (s.accepted) } "will be messaged" }
            p.count.bad #count-not-accepted { span.number { (not_accepted) } "will not be messaged" }
            p.count #count-rejected { span.number { (s.rejected) } "rejected: the record needs fixing" }
            p.count #count-likely-to-fail { span.number { (s.likely_to_fail) } "likely to fail: the number's recent messages failed" }
        }
        p {
            "Checked by " span #validator-version { (report.validator.name) " " (report.validator.version) }
            " with the rules " span #rules-version { (report.rules.name) " " (report.rules.version) }
            @if let Some(d) = &report.deployment { " (deployment " (d.id) ")" }
            "."
        }
        p {
            a.button.secondary #download href={ (base) "/reasons.csv" } download="reasons.csv" { "Download reasons (CSV)" }
        }
        p.hint { "The download lists every patient who will not be messaged, with the reasons, to fix the records in EMIS or SystmOne before uploading the list again." }
        nav.tabs aria-label="Patient lists" {
            ul {
                li { a #tab-not-accepted href=(link(View::NotAccepted, 1)) aria-current=[(listing.view == View::NotAccepted).then_some("page")] { "Not messaged (" (not_accepted) ")" } }
                li { a #tab-accepted href=(link(View::Accepted, 1)) aria-current=[(listing.view == View::Accepted).then_some("page")] { "Messaged (" (s.accepted) ")" } }
            }
        }
        div.panel {
            h2 { (title) }
            form method="get" action=(base) role="search" {
                input type="hidden" name="view" value=(listing.view.query());
                label for="find" { "Find a row number or NHS number" }
                input #find type="search" name="find" value=[listing.find] inputmode="numeric" autocomplete="off";
                " "
                button.secondary type="submit" { "Find" }
                @if listing.find.is_some() { " " a href=(link(listing.view, 1)) { "Show all" } }
            }
            @if shown.is_empty() {
                p #empty { @if listing.find.is_some() { "No patient in this list matches. Try the other list." } @else { (empty) } }
            } @else {
                table #patients {
                    caption { (title) ", " (in_view.len()) " in all" @if pages > 1 { ", page " (page) " of " (pages) } }
                    thead {
                        tr {
                            th scope="col" { "Row" }
                            th scope="col" { "NHS number" }
                            th scope="col" { "Mobile" }
                            @if listing.view == View::NotAccepted {
                                th scope="col" { "Status" }
                                th scope="col" { "Why" }
                            } @else {
                                th scope="col" { "Chance of delivery" }
                            }
                        }
                    }
                    tbody {
                        @for p in shown {
                            tr data-row=(p.row) {
                                @if listing.view == View::NotAccepted {
                                    td.nowrap { a href={ (base) "/row/" (p.row) } { "Row " (p.row) } }
                                } @else {
                                    td { (p.row) }
                                }
                                td.nowrap { (nhs_shown(report, p)) }
                                td.nowrap { (mobile_shown(report, p)) }
                                @if listing.view == View::NotAccepted {
                                    td { (status_tag(p.status)) }
                                    td { ul { @for r in &p.reasons { li { (r.message) } } } }
                                } @else {
                                    td { (chance(p)) }
                                }
                            }
                        }
                    }
                }
                @if pages > 1 {
                    nav.pagination aria-label="Pages" {
                        span { @if page > 1 { a rel="prev" href=(link(listing.view, page - 1)) { "Previous page" } } }
                        span { "Page " (page) " of " (pages) }
                        span { @if page < pages { a rel="next" #next-page href=(link(listing.view, page + 1)) { "Next page" } } }
                    }
                }
            }
        }
        p { a href="/" { "Check another list" } }
    };
    layout("Your patient list has been checked", content)
}

/// `GET /review/{id}/row/{row}`: one patient not messaged, and why.
pub fn patient(id: &str, report: &BatchReport, p: &PatientVerdict) -> Markup {
    let content = html! {
        p { a href={ "/review/" (id) } { "Back to the list" } }
        h1 { "Row " (p.row) }
        dl.details {
            dt { "Status" } dd { (status_tag(p.status)) }
            dt { "NHS number" } dd { (nhs_shown(report, p)) }
            dt { "Mobile" } dd { (mobile_shown(report, p)) }
            dt { "Chance of delivery" } dd { (chance(p)) }
        }
        h2 { "Why" }
        ul #reasons { @for r in &p.reasons { li { (r.message) } } }
        @if p.status == Status::LikelyToFail {
            div.inset #on-purpose {
                p { "Likely to fail is advice for batches: this patient is left out of the batch, but you can still send them a single message on purpose. Or contact them another way, and update the number in their record." }
            }
        }
        @if !p.cells.is_empty() {
            h2 { "The row as uploaded" }
            table {
                caption { "Row " (p.row) " of the file" }
                thead { tr { th scope="col" { "Column" } th scope="col" { "Value" } } }
                tbody {
                    @for (heading, cell) in report.columns.headers.iter().zip(&p.cells) {
                        tr { th scope="row" { (heading) } td { (cell) } }
                    }
                }
            }
        }
    };
    layout(&format!("Row {}", p.row), content)
}

/// A review that never was or has expired.
pub fn gone(ttl_secs: u64) -> Markup {
    let kept = match ttl_secs {
        s if s >= 120 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    };
    let content = html! {
        h1 { "This review is no longer here" }
        p { "Reviews are kept for " (kept) ", and only in this service's memory, so no patient data is kept. Upload the list again to check it." }
        p { a.button href="/" { "Check a list" } }
    };
    layout("This review is no longer here", content)
}

/// A row the review does not have.
pub fn no_row(id: &str, row: u32) -> Markup {
    let content = html! {
        h1 { "There is no row " (row) " in this list" }
        p { a href={ "/review/" (id) } { "Back to the list" } }
    };
    layout("No such row", content)
}

/// The NHS number as the verdict has it, or the cell as uploaded.
fn nhs_shown(report: &BatchReport, p: &PatientVerdict) -> String {
    match &p.nhs_number {
        Some(n) if n.len() == 10 => format!("{} {} {}", &n[..3], &n[3..6], &n[6..]),
        _ => cell(p, report.columns.nhs_number),
    }
}

/// A valid mobile as staff know it (`07700 900123`), else the cell as
/// uploaded.
fn mobile_shown(report: &BatchReport, p: &PatientVerdict) -> String {
    match &p.mobile_number {
        Some(e164) => national_mobile(e164),
        None => cell(p, report.columns.mobile_number),
    }
}

fn cell(p: &PatientVerdict, column: usize) -> String {
    p.cells.get(column).map_or("", |c| c.trim()).to_string()
}

fn chance(p: &PatientVerdict) -> String {
    p.success_probability
        .map_or("–".to_string(), |c| format!("{:.0}%", c * 100.0))
}

fn status_tag(status: Status) -> Markup {
    let (class, text) = match status {
        Status::Accepted => ("tag accepted", "Will be messaged"),
        Status::Rejected => ("tag rejected", "Rejected"),
        Status::LikelyToFail => ("tag likely-to-fail", "Likely to fail"),
    };
    html! { strong class=(class) { (text) } }
}

/// Whether `p` is what `query` looks for: its row number, or its NHS number
/// (spaces and dashes ignored), as validated or as uploaded.
fn matches(report: &BatchReport, p: &PatientVerdict, query: &str) -> bool {
    let wanted: String = query.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if wanted.is_empty() {
        return true;
    }
    if wanted.parse::<u32>().is_ok_and(|row| row == p.row) {
        return true;
    }
    let uploaded: String = cell(p, report.columns.nhs_number)
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect();
    p.nhs_number.as_deref() == Some(wanted.as_str()) || (!uploaded.is_empty() && uploaded == wanted)
}
