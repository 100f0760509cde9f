//! One page of a list, by index (`startIndex`/`count`) or by cursor
//! (RFC 9865 keyset paging: a page costs the same at any depth). Pages are
//! chosen as ids first, so the ordering query can run on an index alone.

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{
    Condition, Expr, ExprTrait, Func, IntoColumnRef, IntoTableRef, Order, Query, SimpleExpr,
};
use uuid::Uuid;

use super::db_error;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::query::{Cursor, ListQuery, Paging, SortOrder};
use crate::error::{ScimError, ScimType};

/// A resolved `sortBy`: the expression and whether it is text (only text
/// keys can be carried in a cursor).
pub struct Sort {
    pub expr: SimpleExpr,
    pub text: bool,
}

pub struct PageIds {
    /// `None` on cursor pages (RFC 9865 lets it be left out; counting would
    /// make every page cost as much as the whole set). An index query with
    /// `count=0` gives the total.
    pub total: Option<u64>,
    pub ids: Vec<Uuid>,
    pub next_cursor: Option<String>,
    /// Cursor pages: the cursor that resumes after each id (a page cut
    /// short by its byte budget continues from there).
    pub cursors: Vec<String>,
}

pub async fn page_ids<C: ConnectionTrait>(
    db: &C,
    table: impl IntoTableRef + Clone,
    id_col: impl IntoColumnRef + Clone,
    cond: Condition,
    sort: Option<Sort>,
    q: &ListQuery,
) -> DomainResult<PageIds> {
    // The total of an index page costs a COUNT over every match; it is
    // run only when the page itself does not tell it (a page that is not
    // full and not empty ends the set: `userName eq` lookups, the most
    // frequent list request, need no count).
    let count_stmt = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from(table.clone())
        .cond_where(cond.clone())
        .to_owned();
    let count_all = || async {
        let row = db.query_one(&count_stmt).await.map_err(db_error)?;
        let n: i64 = row
            .and_then(|r| r.try_get_by_index::<i64>(0).ok())
            .unwrap_or_default();
        Ok::<_, DomainError>(u64::try_from(n).unwrap_or(0))
    };
    let order = match q.sort_order {
        SortOrder::Ascending => Order::Asc,
        SortOrder::Descending => Order::Desc,
    };
    let key = sort.as_ref().map(|s| {
        if s.text {
            SimpleExpr::from(Func::coalesce([s.expr.clone(), Expr::val("")]))
        } else {
            s.expr.clone()
        }
    });
    let id = Expr::col(id_col.clone());
    let mut select = Query::select();
    select.expr(id.clone()).from(table).cond_where(cond);
    match &key {
        Some(k) => {
            select.expr(k.clone());
        }
        None => {
            select.expr(Expr::val(""));
        }
    }
    if let Some(k) = &key {
        select.order_by_expr(k.clone(), order.clone());
    }
    select.order_by_expr(id.clone(), order.clone());

    let count = q.count;
    match &q.paging {
        Paging::Index { start_index } => {
            if count == 0 {
                return Ok(PageIds {
                    total: Some(count_all().await?),
                    ids: vec![],
                    next_cursor: None,
                    cursors: vec![],
                });
            }
            select.offset(start_index - 1).limit(count);
        }
        Paging::Cursor(after) => {
            if count == 0 {
                return Ok(PageIds {
                    total: None,
                    ids: vec![],
                    next_cursor: None,
                    cursors: vec![],
                });
            }
            if sort.as_ref().is_some_and(|s| !s.text) {
                return Err(DomainError::invalid(
                    "cursor paging sorts on string attributes only; sort this query with startIndex paging",
                ));
            }
            if let Some(c) = after {
                let after_id = match order {
                    Order::Desc => id.clone().lt(c.id),
                    _ => id.clone().gt(c.id),
                };
                let cond = match (&key, &c.key) {
                    (Some(k), Some(v)) => {
                        let beyond = match order {
                            Order::Desc => k.clone().lt(v.clone()),
                            _ => k.clone().gt(v.clone()),
                        };
                        beyond.or(k.clone().eq(v.clone()).and(after_id))
                    }
                    (None, None) => after_id,
                    _ => {
                        return Err(ScimError::bad_request(
                            ScimType::InvalidCursor,
                            "the cursor does not match this query",
                        )
                        .into());
                    }
                };
                select.and_where(cond);
            }
            // One extra row tells whether another page follows.
            select.limit(count + 1);
        }
    }
    let rows = db.query_all(&select).await.map_err(db_error)?;
    let mut page: Vec<(Uuid, String)> = Vec::with_capacity(rows.len());
    for r in rows {
        let id: Uuid = r.try_get_by_index(0).map_err(db_error)?;
        // Only text keys go into cursors; a numeric sort key (a custom
        // integer attribute) is not read back.
        let k: Option<String> = match &sort {
            Some(s) if !s.text => None,
            _ => r.try_get_by_index(1).map_err(db_error)?,
        };
        page.push((id, k.unwrap_or_default()));
    }
    let total = match q.paging {
        Paging::Index { start_index } => {
            let shown = page.len() as u64;
            Some(if shown > 0 && shown < count {
                start_index - 1 + shown
            } else if shown == 0 && start_index == 1 {
                0
            } else {
                count_all().await?
            })
        }
        Paging::Cursor(_) => None,
    };
    let mut next_cursor = None;
    let mut cursors = vec![];
    if let Paging::Cursor(_) = q.paging {
        let more = page.len() as u64 > count;
        page.truncate(count as usize);
        let fingerprint = q.fingerprint();
        cursors = page
            .iter()
            .map(|(id, k)| {
                Cursor {
                    key: key.as_ref().map(|_| k.clone()),
                    id: *id,
                    query: fingerprint.clone(),
                }
                .encode()
            })
            .collect();
        if more {
            next_cursor = cursors.last().cloned();
        }
    }
    Ok(PageIds {
        total,
        ids: page.into_iter().map(|(id, _)| id).collect(),
        next_cursor,
        cursors,
    })
}

/// Puts `models` in the order of `ids`.
pub fn in_order<M>(ids: &[Uuid], mut models: Vec<M>, id_of: impl Fn(&M) -> Uuid) -> Vec<M> {
    let pos = |m: &M| {
        ids.iter()
            .position(|i| *i == id_of(m))
            .unwrap_or(usize::MAX)
    };
    models.sort_by_key(|m| pos(m));
    models
}
