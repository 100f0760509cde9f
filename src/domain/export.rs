//! CSV exports of the admin documents: managed accounts (one row per
//! account, one column per product listing the sites) and site users.
//! Pure formatting of rows the store reads a page at a time.
//!
//! This server has no authentication policies of its own: the policy,
//! password and idle-session columns carry the platform defaults.

use chrono::{DateTime, Utc};

use super::admin_rules::{MembershipStatus, PRODUCTS};
use super::lifecycle::AccountStatus;

const MANAGED_COLUMNS: [&str; 11] = [
    "Name",
    "Email",
    "Last active",
    "Status",
    "Billable",
    "Policy name",
    "Policy type",
    "SAML single sign-on",
    "Two-step verification",
    "Password requirements",
    "Idle session duration",
];

const SITE_USER_COLUMNS: [&str; 6] = [
    "Name",
    "Email",
    "Status",
    "Last active",
    "Product access",
    "Groups",
];

/// One managed account as the export shows it.
#[derive(Debug, Clone)]
pub struct ManagedRow {
    pub name: Option<String>,
    pub email: Option<String>,
    pub last_active: Option<DateTime<Utc>>,
    pub status: AccountStatus,
    pub saml_sso: bool,
    pub two_step: bool,
    /// (product key, site name) pairs the account has access on.
    pub access: Vec<(String, String)>,
}

/// One site user as the export shows it.
#[derive(Debug, Clone)]
pub struct SiteUserRow {
    pub name: Option<String>,
    pub email: Option<String>,
    pub status: MembershipStatus,
    pub last_active: Option<DateTime<Utc>>,
    /// e.g. `jira (admin)`.
    pub products: Vec<String>,
    pub groups: Vec<String>,
}

fn yes_no(b: bool) -> &'static str {
    if b { "Yes" } else { "No" }
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "Never".to_owned())
}

/// A cell a spreadsheet would not run as a formula (OWASP "CSV
/// injection"): one that starts with `=`, `+`, `-`, `@`, a tab or a
/// carriage return gets a leading `'`. Names and emails come from identity
/// providers, so any of them may.
pub fn neutralise(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

fn write(records: Vec<Vec<String>>) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        w.write_record(r.into_iter().map(neutralise))
            .map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

pub fn managed_header() -> Vec<String> {
    MANAGED_COLUMNS
        .iter()
        .map(|c| (*c).to_owned())
        .chain(PRODUCTS.iter().map(|(_, label)| (*label).to_owned()))
        .collect()
}

/// CSV bytes for a page of managed accounts (with the header first when
/// `header`).
pub fn managed_csv(rows: &[ManagedRow], header: bool) -> Result<Vec<u8>, String> {
    let mut records = Vec::with_capacity(rows.len() + 1);
    if header {
        records.push(managed_header());
    }
    for r in rows {
        // Billable: active managed accounts count towards the bill.
        let billable = r.status == AccountStatus::Active;
        let mut rec = vec![
            r.name.clone().unwrap_or_default(),
            r.email.clone().unwrap_or_default(),
            time(r.last_active),
            r.status.to_string(),
            yes_no(billable).to_owned(),
            "Default policy".to_owned(),
            if billable { "Billable" } else { "Non-billable" }.to_owned(),
            yes_no(r.saml_sso).to_owned(),
            yes_no(r.two_step).to_owned(),
            "Default".to_owned(),
            "Default".to_owned(),
        ];
        for (key, _) in PRODUCTS {
            let mut sites: Vec<&str> = r
                .access
                .iter()
                .filter(|(p, _)| p == key)
                .map(|(_, s)| s.as_str())
                .collect();
            sites.sort_unstable();
            sites.dedup();
            rec.push(sites.join("; "));
        }
        records.push(rec);
    }
    write(records)
}

/// CSV bytes for a page of site users.
pub fn site_users_csv(rows: &[SiteUserRow], header: bool) -> Result<Vec<u8>, String> {
    let mut records = Vec::with_capacity(rows.len() + 1);
    if header {
        records.push(SITE_USER_COLUMNS.iter().map(|c| (*c).to_owned()).collect());
    }
    for r in rows {
        records.push(vec![
            r.name.clone().unwrap_or_default(),
            r.email.clone().unwrap_or_default(),
            r.status.to_string(),
            time(r.last_active),
            r.products.join("; "),
            r.groups.join("; "),
        ]);
    }
    write(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_rows_list_sites_per_product_column() {
        let row = ManagedRow {
            name: Some("Jane, \"JJ\" Doe".into()),
            email: Some("jane@acme.example".into()),
            last_active: None,
            status: AccountStatus::Active,
            saml_sso: false,
            two_step: true,
            access: vec![
                ("jira".into(), "b.example.net".into()),
                ("jira".into(), "a.example.net".into()),
                ("jira".into(), "a.example.net".into()),
                ("trello".into(), "a.example.net".into()),
            ],
        };
        let text = String::from_utf8(managed_csv(&[row], true).unwrap()).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "Name,Email,Last active,Status,Billable,Policy name,Policy type,SAML single sign-on,Two-step verification,Password requirements,Idle session duration,Jira,Confluence,Jira Service Management,Jira Product Discovery,Bitbucket,Trello,Opsgenie,Statuspage"
        );
        assert_eq!(
            lines.next().unwrap(),
            "\"Jane, \"\"JJ\"\" Doe\",jane@acme.example,Never,active,Yes,Default policy,Billable,No,Yes,Default,Default,a.example.net; b.example.net,,,,,a.example.net,,"
        );
    }

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_neutralised() {
        for bad in ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(bad.to_owned()), format!("'{bad}"));
        }
        for fine in ["Jane", "", "a=b", "1-2", "x@y.z", "'quoted"] {
            assert_eq!(neutralise(fine.to_owned()), fine);
        }
        let row = SiteUserRow {
            name: Some("=HYPERLINK(\"http://evil.example\")".into()),
            email: Some("-x@y.z".into()),
            status: MembershipStatus::Active,
            last_active: None,
            products: vec![],
            groups: vec!["@admins".into(), "Writers".into()],
        };
        let text = String::from_utf8(site_users_csv(&[row], false).unwrap()).unwrap();
        assert_eq!(
            text,
            "\"'=HYPERLINK(\"\"http://evil.example\"\")\",'-x@y.z,active,Never,,'@admins; Writers\n"
        );
    }

    #[test]
    fn site_user_rows_join_products_and_groups() {
        let row = SiteUserRow {
            name: None,
            email: Some("x@y.z".into()),
            status: MembershipStatus::Suspended,
            last_active: None,
            products: vec!["jira (user)".into(), "confluence (admin)".into()],
            groups: vec!["Writers".into()],
        };
        let text = String::from_utf8(site_users_csv(&[row], false).unwrap()).unwrap();
        assert_eq!(
            text,
            ",x@y.z,suspended,Never,jira (user); confluence (admin),Writers\n"
        );
    }
}
