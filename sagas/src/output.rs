//! What a step produced: [`StepOutput`].
//!
//! Stored with the saga (and shown by `tenantry sagas show`) as a flat map of
//! strings — `{"host": "acme.tenantry.test", "groups": "jira-users,site-admins",
//! "database:jira": "t_acme__jira__eu"}` — the form sagas have always been
//! stored in, so stored sagas read back unchanged. Only this module knows
//! that form: steps build an output with the typed setters below and readers
//! use the typed getters; lists, booleans, regions and per-product entries
//! are encoded and parsed here and nowhere else. Facts that only operators
//! read (an owner's email, a licence's seats) are [`StepOutput::fact`]s.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tenantry_schemas::{AppKey, ProductKey, Region};

const HOST: &str = "host";
const REGION: &str = "region";
const PINNED: &str = "pinned";
const GROUPS: &str = "groups";
const SHARD: &str = "shard";
const DATABASE: &str = "database";
const APPS: &str = "apps";
const SNAPSHOT: &str = "snapshot";
const SNAPSHOT_OF: &str = "of";
const SNAPSHOT_SHARD: &str = "snapshot_shard";
const SNAPSHOT_REGION: &str = "snapshot_region";
const RETIRED_FROM: &str = "from:";
const RETIRED: &str = "retired";
const CREATED: &str = "databases";
const SOURCE_REGION: &str = "source_region";
const PREVIOUS_EDITION: &str = "previous_edition";
const PREVIOUS_SEATS: &str = "previous_seats";
const MEMBERS: &str = "members";
const SOURCE_PINNED: &str = "source_pinned";
const SHARD_OF: &str = "shard:";
const DATABASE_OF: &str = "database:";
const COPY_FROM: &str = "source:";
const COPY_TO: &str = "target:";

/// A product database's place: its shard and its name there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Shard id.
    pub shard: String,
    /// Database name on the shard.
    pub database: String,
}

/// What a step produced (see the module docs for the stored form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StepOutput(BTreeMap<String, String>);

impl StepOutput {
    /// An output with nothing in it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a fact for operators under `key` (`owner`, `seats`, `scope`).
    #[must_use]
    pub fn fact(mut self, key: &str, value: impl ToString) -> Self {
        self.0.insert(key.to_owned(), value.to_string());
        self
    }

    /// Step 2: the site host.
    #[must_use]
    pub fn with_host(self, host: impl ToString) -> Self {
        self.fact(HOST, host)
    }

    /// Step 3 (and a move's switch): the region, and whether it is a
    /// residency pin.
    #[must_use]
    pub fn with_region(self, region: impl ToString, pinned: bool) -> Self {
        self.fact(REGION, region).fact(PINNED, pinned)
    }

    /// Step 5 (and a group's removal): every group the tenant has.
    #[must_use]
    pub fn with_groups<'a>(self, groups: impl IntoIterator<Item = &'a str>) -> Self {
        let groups: Vec<&str> = groups.into_iter().collect();
        self.fact(GROUPS, groups.join(","))
    }

    /// Step 6: where the product database was placed.
    #[must_use]
    pub fn with_database(self, shard: impl ToString, database: impl ToString) -> Self {
        self.fact(SHARD, shard).fact(DATABASE, database)
    }

    /// Step 7: the apps installed.
    #[must_use]
    pub fn with_apps<'a>(self, apps: impl IntoIterator<Item = &'a AppKey>) -> Self {
        let apps: Vec<&str> = apps.into_iter().map(AppKey::as_str).collect();
        self.fact(APPS, apps.join(","))
    }

    /// A move's switch: `product`'s database now at `placed`.
    #[must_use]
    pub fn with_moved(self, product: &ProductKey, placed: &Placed) -> Self {
        self.fact(&format!("{SHARD_OF}{product}"), &placed.shard)
            .fact(&format!("{DATABASE_OF}{product}"), &placed.database)
    }

    /// A move's copy of `product`'s database `source` into `target`.
    #[must_use]
    pub fn with_copy(self, product: &ProductKey, source: &str, target: &str) -> Self {
        self.fact(&format!("{COPY_FROM}{product}"), source)
            .fact(&format!("{COPY_TO}{product}"), target)
    }

    /// A deactivation's snapshot `snapshot` of database `of` (empty: there
    /// was no database to snapshot).
    #[must_use]
    pub fn with_snapshot(self, snapshot: impl ToString, of: impl ToString) -> Self {
        self.fact(SNAPSHOT, snapshot).fact(SNAPSHOT_OF, of)
    }

    /// The shard (and its region) holding the database a snapshot is
    /// taken of, whose server is snapshot with it.
    #[must_use]
    pub fn with_snapshot_shard(self, shard: impl ToString, region: Region) -> Self {
        self.fact(SNAPSHOT_SHARD, shard)
            .fact(SNAPSHOT_REGION, region)
    }

    /// Retired database `database` was on shard `shard` of `region`.
    #[must_use]
    pub fn with_retired_from(self, database: &str, shard: impl ToString, region: Region) -> Self {
        let key = format!("{RETIRED_FROM}{database}");
        self.fact(&key, format!("{region}/{}", shard.to_string()))
    }

    /// Databases retired (dropped or archived).
    #[must_use]
    pub fn with_retired<'a>(self, databases: impl IntoIterator<Item = &'a str>) -> Self {
        let databases: Vec<&str> = databases.into_iter().collect();
        self.fact(RETIRED, databases.join(","))
    }

    /// A move's target databases created.
    #[must_use]
    pub fn with_created<'a>(self, databases: impl IntoIterator<Item = &'a str>) -> Self {
        let databases: Vec<&str> = databases.into_iter().collect();
        self.fact(CREATED, databases.join(","))
    }

    /// A move's switch: where the tenant was placed before it (what its
    /// compensation restores).
    #[must_use]
    pub fn with_source_placement(self, region: impl ToString, pinned: bool) -> Self {
        self.fact(SOURCE_REGION, region).fact(SOURCE_PINNED, pinned)
    }

    /// A licence update: the licence it replaced (what its compensation restores).
    #[must_use]
    pub fn with_previous_licence(self, edition: impl ToString, seats: i32) -> Self {
        self.fact(PREVIOUS_EDITION, edition)
            .fact(PREVIOUS_SEATS, seats)
    }

    /// A group's removal: its members (what its compensation restores).
    #[must_use]
    pub fn with_members<'a>(self, members: impl IntoIterator<Item = &'a str>) -> Self {
        let members: Vec<&str> = members.into_iter().collect();
        self.fact(MEMBERS, members.join(","))
    }

    /// The fact under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Every entry in the stored form, by key (for display).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether the output holds nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The site host, when this step set one.
    pub fn host(&self) -> Option<&str> {
        self.nonempty(HOST)
    }

    /// The region, when this step set one (and it parses).
    pub fn region(&self) -> Option<Region> {
        self.nonempty(REGION)
            .and_then(|r| Region::parse(r, REGION).ok())
    }

    /// Whether the region is a residency pin.
    pub fn pinned(&self) -> bool {
        self.get(PINNED) == Some("true")
    }

    /// The groups, when this step listed them.
    pub fn groups(&self) -> Option<Vec<String>> {
        self.get(GROUPS).map(split)
    }

    /// The product database's place, when this step placed one.
    pub fn database(&self) -> Option<Placed> {
        Some(Placed {
            shard: self.get(SHARD).unwrap_or_default().to_owned(),
            database: self.nonempty(DATABASE)?.to_owned(),
        })
    }

    /// The apps installed, when this step listed them (unparsable names skipped).
    pub fn apps(&self) -> Option<Vec<AppKey>> {
        self.get(APPS).map(|apps| {
            split(apps)
                .iter()
                .filter_map(|a| AppKey::parse(a).ok())
                .collect()
        })
    }

    /// A move's new place of each product's database.
    pub fn moved(&self) -> BTreeMap<ProductKey, Placed> {
        self.0
            .iter()
            .filter_map(|(key, database)| {
                let product = ProductKey::parse(key.strip_prefix(DATABASE_OF)?).ok()?;
                let shard = self
                    .get(&format!("{SHARD_OF}{product}"))
                    .unwrap_or_default()
                    .to_owned();
                let placed = Placed {
                    shard,
                    database: database.clone(),
                };
                Some((product, placed))
            })
            .collect()
    }

    /// A deactivation's snapshot and the database it was taken of, when
    /// there was one.
    pub fn snapshot(&self) -> Option<(&str, &str)> {
        Some((self.get(SNAPSHOT)?, self.nonempty(SNAPSHOT_OF)?))
    }

    /// The databases retired.
    pub fn retired(&self) -> Vec<String> {
        self.get(RETIRED).map(split).unwrap_or_default()
    }

    /// A move's copies: product, source database, target database.
    pub fn copies(&self) -> Vec<(ProductKey, String, String)> {
        self.0
            .iter()
            .filter_map(|(key, target)| {
                let product = ProductKey::parse(key.strip_prefix(COPY_TO)?).ok()?;
                let source = self.get(&format!("{COPY_FROM}{product}"))?.to_owned();
                Some((product, source, target.clone()))
            })
            .collect()
    }

    /// A move's target databases created.
    pub fn created(&self) -> Vec<String> {
        self.get(CREATED).map(split).unwrap_or_default()
    }

    /// Where a move's switch found the tenant placed: region code and pin.
    pub fn source_placement(&self) -> Option<(&str, bool)> {
        Some((
            self.nonempty(SOURCE_REGION)?,
            self.get(SOURCE_PINNED) == Some("true"),
        ))
    }

    /// The licence a licence update replaced: edition (empty when there
    /// was none) and seats (0).
    pub fn previous_licence(&self) -> (&str, i32) {
        let seats = self
            .get(PREVIOUS_SEATS)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (self.get(PREVIOUS_EDITION).unwrap_or_default(), seats)
    }

    /// The members of a removed group.
    pub fn members(&self) -> Vec<String> {
        self.get(MEMBERS).map(split).unwrap_or_default()
    }

    /// The shard and region of the database a snapshot was taken of, when
    /// recorded.
    pub fn snapshot_shard(&self) -> Option<(&str, Region)> {
        let region = Region::parse(self.nonempty(SNAPSHOT_REGION)?, SNAPSHOT_REGION).ok()?;
        Some((self.nonempty(SNAPSHOT_SHARD)?, region))
    }

    /// The shard and region retired database `database` was on, when
    /// recorded.
    pub fn retired_from(&self, database: &str) -> Option<(&str, Region)> {
        let value = self.nonempty(&format!("{RETIRED_FROM}{database}"))?;
        let (region, shard) = value.split_once('/')?;
        Some((shard, Region::parse(region, RETIRED_FROM).ok()?))
    }

    /// The name a deactivation's snapshot was given, taken or not.
    pub fn snapshot_name(&self) -> Option<&str> {
        self.nonempty(SNAPSHOT)
    }

    fn nonempty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }
}

/// `a,b` → `["a", "b"]`; the empty string is the empty list.
fn split(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_is_the_flat_map_of_strings() {
        let jira = ProductKey::parse("jira").unwrap();
        let output = StepOutput::new()
            .with_region("de", true)
            .with_moved(
                &jira,
                &Placed {
                    shard: "ch-shard-1".into(),
                    database: "t_a__jira__ch".into(),
                },
            )
            .fact("seats", 10);
        let json = serde_json::to_value(&output).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "region": "de", "pinned": "true", "seats": "10",
                "shard:jira": "ch-shard-1", "database:jira": "t_a__jira__ch",
            })
        );
        let back: StepOutput = serde_json::from_value(json).unwrap();
        assert_eq!(back, output);
        assert_eq!(
            back.region().map(|r| r.as_str().to_owned()).as_deref(),
            Some("de")
        );
        assert!(back.pinned());
        assert_eq!(back.moved()[&jira].shard, "ch-shard-1");
    }

    #[test]
    fn a_move_copies_each_product_from_its_source_to_its_target() {
        let jira = ProductKey::parse("jira").unwrap();
        let crm = ProductKey::parse("crm").unwrap();
        let output = StepOutput::new()
            .fact("databases", 2)
            .with_copy(&jira, "t_a__jira", "t_a__jira__ch")
            .with_copy(&crm, "t_a__crm", "t_a__crm__ch");
        assert_eq!(
            output.copies(),
            vec![
                (crm, "t_a__crm".to_owned(), "t_a__crm__ch".to_owned()),
                (jira, "t_a__jira".to_owned(), "t_a__jira__ch".to_owned()),
            ]
        );
        assert!(StepOutput::new().fact("databases", 0).copies().is_empty());
    }

    #[test]
    fn lists_round_trip_and_empty_values_read_as_absent() {
        let output = StepOutput::new()
            .with_groups(["jira-users", "site-admins"])
            .with_database("", "")
            .with_retired([]);
        assert_eq!(
            output.groups(),
            Some(vec!["jira-users".to_owned(), "site-admins".to_owned()])
        );
        assert_eq!(output.database(), None);
        assert!(output.retired().is_empty());
        assert_eq!(StepOutput::new().groups(), None);
    }

    #[test]
    fn the_shards_of_snapshots_and_retired_databases_round_trip() {
        let output = StepOutput::new()
            .with_snapshot("snap_t_a__jira_0a1b2c3d", "t_a__jira")
            .with_snapshot_shard("ch-shard-2", Region::Ch)
            .with_retired(["t_a__jira", "t_a__crm"])
            .with_retired_from("t_a__jira", "ch-shard-2", Region::Ch);
        assert_eq!(output.snapshot_shard(), Some(("ch-shard-2", Region::Ch)));
        assert_eq!(
            output.retired_from("t_a__jira"),
            Some(("ch-shard-2", Region::Ch))
        );
        assert_eq!(output.retired_from("t_a__crm"), None);
        assert_eq!(output.get("from:t_a__jira"), Some("ch/ch-shard-2"));
        assert_eq!(StepOutput::new().snapshot_shard(), None);
    }
}
