//! A [`RunFilter`] as SQL: the `WHERE`, `ORDER BY` and `LIMIT` clauses of a query of one
//! entity table, with every value bound. Shared by the SQL stores, which differ only in how
//! they write a placeholder and in how they bind the values.

use chrono::{DateTime, Utc};

use super::sql_schema::order_ties;
use super::RunFilter;
use crate::record::EntityKind;

/// A value the clauses bind, in the order of the placeholders.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bound<'a> {
    Text(&'a str),
    Integer(i64),
    Time(DateTime<Utc>),
}

/// The clauses that follow `SELECT … FROM <table of kind>`, and the values they bind, the `n`th
/// (counting from 1) at the placeholder `{sign}{n}` (`?1` in SQLite, `$1` in PostgreSQL). Rows
/// come oldest first (newest first with [`RunFilter::newest_first`]), by `started_at` then by
/// `tie_breakers` (for pipelines: by run id and attempt, see [`order_ties`]).
pub(crate) fn clauses<'a>(
    kind: EntityKind,
    filter: &'a RunFilter,
    tie_breakers: &[&str],
    sign: char,
) -> (String, Vec<Bound<'a>>) {
    let mut sql = String::from(" WHERE true");
    let mut values = Vec::new();
    let mut bind = |value: Bound<'a>| {
        values.push(value);
        format!("{sign}{}", values.len())
    };
    if let Some(run_id) = &filter.run_id {
        let p = bind(Bound::Text(run_id));
        sql.push_str(&format!(" AND run_id = {p}"));
    }
    if let Some(run_ids) = &filter.run_ids {
        if run_ids.is_empty() {
            sql.push_str(" AND false");
        } else {
            let list: Vec<String> = run_ids.iter().map(|r| bind(Bound::Text(r))).collect();
            sql.push_str(&format!(" AND run_id IN ({})", list.join(", ")));
        }
    }
    if let Some(prefix) = &filter.run_id_prefix {
        // Taken literally (not a `LIKE` pattern: `%` and `_` in the prefix are themselves);
        // the cast tells PostgreSQL the parameter's type.
        let p = bind(Bound::Text(prefix));
        sql.push_str(&format!(
            " AND substr(run_id, 1, length(CAST({p} AS text))) = CAST({p} AS text)"
        ));
    }
    if let Some(attempt) = filter.attempt {
        let p = bind(Bound::Integer(attempt.into()));
        sql.push_str(&format!(" AND attempt = {p}"));
    }
    if let Some(status) = filter.status {
        let p = bind(Bound::Text(status.as_str()));
        sql.push_str(&format!(" AND status = {p}"));
    }
    if let Some(name) = &filter.name {
        // The name's column is the entity kind's name (`pipeline`, `process`, `step`).
        let p = bind(Bound::Text(name));
        sql.push_str(&format!(" AND {} = {p}", kind.as_str()));
    }
    if let Some(since) = filter.since {
        let p = bind(Bound::Time(since));
        sql.push_str(&format!(" AND started_at >= {p}"));
    }
    if let Some(before) = &filter.before {
        let t = bind(Bound::Time(before.started_at));
        let r = bind(Bound::Text(&before.run_id));
        let a = bind(Bound::Integer(before.attempt.into()));
        sql.push_str(&format!(
            " AND (started_at, run_id, attempt) < ({t}, {r}, {a})"
        ));
    }
    let order = if filter.newest_first { "DESC" } else { "ASC" };
    sql.push_str(&format!(" ORDER BY started_at {order}"));
    for column in order_ties(kind, tie_breakers) {
        sql.push_str(&format!(", {column} {order}"));
    }
    if let Some(limit) = filter.limit {
        let p = bind(Bound::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" LIMIT {p}"));
    }
    (sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunStatus;

    #[test]
    fn pipeline_runs_that_started_together_come_by_key() {
        let filter = RunFilter::default().newest_first();
        let (sql, _) = clauses(EntityKind::Pipeline, &filter, &["rowid"], '$');
        assert_eq!(
            sql,
            " WHERE true ORDER BY started_at DESC, run_id DESC, attempt DESC"
        );
    }

    #[test]
    fn no_filter_orders_only() {
        let filter = RunFilter::default();
        let (sql, values) = clauses(EntityKind::Step, &filter, &["step_run_id"], '$');
        assert_eq!(sql, " WHERE true ORDER BY started_at ASC, step_run_id ASC");
        assert!(values.is_empty());
    }

    #[test]
    fn every_condition_binds_its_value_in_order() {
        let since = Utc::now();
        let filter = RunFilter {
            run_id: Some("r'1".into()),
            run_id_prefix: Some("r%".into()),
            run_ids: Some(vec!["r1".into(), "r2".into()]),
            attempt: Some(2),
            status: Some(RunStatus::Failed),
            name: Some("load".into()),
            since: Some(since),
            newest_first: true,
            limit: Some(5),
            before: Some(super::super::RunPosition::new(since, "r9", 3)),
        };
        let (sql, values) = clauses(EntityKind::Process, &filter, &["a", "b"], '$');
        assert_eq!(
            sql,
            " WHERE true AND run_id = $1 AND run_id IN ($2, $3) \
             AND substr(run_id, 1, length(CAST($4 AS text))) = CAST($4 AS text) \
             AND attempt = $5 AND status = $6 AND process = $7 AND started_at >= $8 \
             AND (started_at, run_id, attempt) < ($9, $10, $11) \
             ORDER BY started_at DESC, a DESC, b DESC LIMIT $12"
        );
        assert_eq!(
            values,
            [
                Bound::Text("r'1"),
                Bound::Text("r1"),
                Bound::Text("r2"),
                Bound::Text("r%"),
                Bound::Integer(2),
                Bound::Text("failed"),
                Bound::Text("load"),
                Bound::Time(since),
                Bound::Time(since),
                Bound::Text("r9"),
                Bound::Integer(3),
                Bound::Integer(5),
            ]
        );
    }

    #[test]
    fn an_empty_list_of_run_ids_matches_no_row() {
        let filter = RunFilter::default().run_ids(Vec::<String>::new());
        let (sql, values) = clauses(EntityKind::Pipeline, &filter, &[], '$');
        assert!(sql.starts_with(" WHERE true AND false ORDER BY"), "{sql}");
        assert!(values.is_empty());
    }
}
