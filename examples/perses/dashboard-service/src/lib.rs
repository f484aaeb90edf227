//! The Perses dashboard service's API (seed 003's queries) on pgfleet-client: list a project's
//! dashboards, search them by name, create one (with its audit event, in one transaction), and
//! validate a share link. Mounts pgfleet-client's health and metrics endpoints.
//!
//! | route | seed 003 query |
//! | --- | --- |
//! | `GET /api/v1/projects/{project}/dashboards` | list dashboards by project |
//! | `GET /api/v1/dashboards/search?q=…` | search by name |
//! | `POST /api/v1/projects/{project}/dashboards` | create (and audit) a dashboard |
//! | `GET /api/v1/share/{token}?client_ip=…` | validate share token |
//! | `/healthz`, `/health/detailed`, `/ready`, `/live`, `/metrics` | pgfleet-client |

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pgfleet_client::prometheus_client::registry::Registry;
use pgfleet_client::{Error, FleetPool, Isolation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

/// The service's router: its API plus `/healthz`, `/health/detailed`, `/ready`, `/live` and
/// `/metrics`. The pool's metrics must already be in `registry`.
pub fn app(pool: FleetPool, registry: Arc<Registry>) -> Router {
    Router::new()
        .route(
            "/api/v1/projects/{project}/dashboards",
            get(list_dashboards).post(create_dashboard),
        )
        .route("/api/v1/dashboards/search", get(search_dashboards))
        .route("/api/v1/share/{token}", get(validate_share_token))
        .merge(pool.health_router(registry))
        .with_state(pool)
}

/// An error as the API shows it: a status and a short kind, never the database's message.
#[derive(Debug)]
pub struct ApiError(StatusCode, &'static str);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        tracing::warn!(error = %e, "request failed");
        match e.kind() {
            Some("acquire_timeout" | "connect" | "pool_closed" | "connection") => {
                ApiError(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
            }
            Some("statement_timeout") => ApiError(StatusCode::GATEWAY_TIMEOUT, "query timed out"),
            Some("unique_violation") => ApiError(StatusCode::CONFLICT, "already exists"),
            Some("constraint_violation" | "data" | "foreign_key_violation") => {
                ApiError(StatusCode::UNPROCESSABLE_ENTITY, "invalid dashboard")
            }
            _ => ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

#[derive(Debug, Serialize)]
pub struct DashboardSummary {
    pub id: String,
    pub project: String,
    pub slug: String,
    pub name: String,
    pub state: String,
    pub tags: Vec<String>,
    pub updated_at: String,
    pub updated_by: String,
}

/// Seed 003 "List dashboards by project" (<10 ms): first 50 by name, archive hidden.
async fn list_dashboards(
    State(pool): State<FleetPool>,
    Path(project): Path<String>,
) -> Result<Json<Vec<DashboardSummary>>, ApiError> {
    let rows = pool
        .reader()
        .track("select", "dashboard", "list_dashboards_by_project", async |c| {
            let statement = c
                .prepare_cached(
                    "SELECT id::text, project, slug, name, state::text, tags, updated_at::text, updated_by
                       FROM dashboard
                      WHERE project = $1 AND state <> 'archived'
                      ORDER BY name
                      LIMIT 50",
                )
                .await?;
            Ok(c.query(&statement, &[&project]).await?)
        })
        .await?;
    Ok(Json(
        rows.iter()
            .map(|r| DashboardSummary {
                id: r.get(0),
                project: r.get(1),
                slug: r.get(2),
                name: r.get(3),
                state: r.get(4),
                tags: r.get(5),
                updated_at: r.get(6),
                updated_by: r.get(7),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    pub q: String,
}

#[derive(Debug, Serialize)]
pub struct SearchHit {
    pub id: String,
    pub project: String,
    pub slug: String,
    pub name: String,
    pub score: f32,
}

/// Seed 003 "Search by name" (<50 ms): any part of the name (pg_trgm), best first.
async fn search_dashboards(
    State(pool): State<FleetPool>,
    Query(query): Query<SearchQuery>,
) -> Result<Json<Vec<SearchHit>>, ApiError> {
    let term = query.q.trim().to_owned();
    if term.is_empty() {
        return Ok(Json(Vec::new()));
    }
    // ILIKE's wildcards in the user's text are literals.
    let pattern = format!(
        "%{}%",
        term.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows = pool
        .reader()
        .track(
            "select",
            "dashboard",
            "search_dashboards_by_name",
            async |c| {
                let statement = c
                    .prepare_cached(
                        "SELECT id::text, project, slug, name, similarity(name, $2) AS score
                       FROM dashboard
                      WHERE name ILIKE $1
                        AND state <> 'archived'
                      ORDER BY score DESC, name
                      LIMIT 20",
                    )
                    .await?;
                Ok(c.query(&statement, &[&pattern, &term]).await?)
            },
        )
        .await?;
    Ok(Json(
        rows.iter()
            .map(|r| SearchHit {
                id: r.get(0),
                project: r.get(1),
                slug: r.get(2),
                name: r.get(3),
                score: r.get(4),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
pub struct NewDashboard {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The Perses DashboardSpec; an empty one by default.
    #[serde(default)]
    pub spec: Option<Value>,
}

#[derive(Debug, Serialize)]
pub struct Created {
    pub id: String,
    pub project: String,
    pub slug: String,
}

/// Creates a dashboard and its audit event in one transaction; the user is the OAuth proxy's
/// `X-Forwarded-User`.
async fn create_dashboard(
    State(pool): State<FleetPool>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Json(new): Json<NewDashboard>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let user = headers
        .get("x-forwarded-user")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or(ApiError(StatusCode::UNAUTHORIZED, "no user"))?
        .to_owned();
    let document = json!({
        "kind": "Dashboard",
        "metadata": { "name": new.slug, "project": project },
        "spec": new.spec.clone().unwrap_or_else(|| json!({
            "display": { "name": new.name },
            "duration": "1h",
            "panels": {},
            "layouts": [],
        })),
    })
    .to_string();
    let id = pool
        .transaction(Isolation::ReadCommitted, async move |tx| {
            let id: String = tx
                .track("insert", "dashboard", "create_dashboard", async {
                    let row = tx
                        .query_one(
                            "INSERT INTO dashboard (project, slug, name, description, document, tags, created_by, updated_by)
                             VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, $7, $7)
                             RETURNING id::text",
                            &[&project, &new.slug, &new.name, &new.description, &document, &new.tags, &user],
                        )
                        .await?;
                    Ok(row.get(0))
                })
                .await?;
            tx.track("insert", "audit_log", "audit_dashboard_created", async {
                tx.execute(
                    "INSERT INTO audit_log (user_id, action, resource_type, resource_id, project)
                     VALUES ($1, 'dashboard.create', 'dashboard', $2, $3)",
                    &[&user, &id, &project],
                )
                .await?;
                Ok(())
            })
            .await?;
            Ok(Created {
                id,
                project: project.clone(),
                slug: new.slug.clone(),
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(id)))
}

#[derive(Debug, Deserialize)]
pub struct ShareQuery {
    /// The client's address (the service behind a proxy takes it from X-Forwarded-For).
    pub client_ip: String,
}

#[derive(Debug, Serialize)]
pub struct SharedDashboard {
    pub dashboard_id: String,
    pub permission: String,
    pub expires_at: String,
    pub project: String,
    pub slug: String,
    pub document: Value,
}

/// Seed 003 "Validate share token" (<5 ms): a live link, from an address its allow-list
/// admits, to an active dashboard. 404 otherwise (a guessed token learns nothing).
async fn validate_share_token(
    State(pool): State<FleetPool>,
    Path(token): Path<String>,
    Query(query): Query<ShareQuery>,
) -> Result<Json<SharedDashboard>, ApiError> {
    let (Some(token), Some(ip)) = (
        token.parse::<Uuidish>().ok(),
        query.client_ip.parse::<std::net::IpAddr>().ok(),
    ) else {
        return Err(ApiError(StatusCode::NOT_FOUND, "no such link"));
    };
    let ip = ip.to_string();
    let row = pool
        .reader()
        .track("select", "share_token", "validate_share_token", async |c| {
            let statement = c
                .prepare_cached(
                    "SELECT t.dashboard_id::text, t.permission, t.expires_at::text, d.project, d.slug, d.document::text
                       FROM share_token t
                       JOIN dashboard d ON d.id = t.dashboard_id
                      WHERE t.token = $1::text::uuid
                        AND t.revoked_at IS NULL
                        AND t.expires_at > now()
                        AND (cardinality(t.allowed_cidrs) = 0 OR $2::text::inet <<= ANY (t.allowed_cidrs))
                        AND d.state = 'active'",
                )
                .await?;
            Ok(c.query_opt(&statement, &[&token.0, &ip]).await?)
        })
        .await?
        .ok_or(ApiError(StatusCode::NOT_FOUND, "no such link"))?;
    let document: String = row.get(5);
    Ok(Json(SharedDashboard {
        dashboard_id: row.get(0),
        permission: row.get(1),
        expires_at: row.get(2),
        project: row.get(3),
        slug: row.get(4),
        document: serde_json::from_str(&document).unwrap_or(Value::Null),
    }))
}

/// A UUID in its text form (checked here so a malformed token is a 404, not a database error).
struct Uuidish(String);

impl std::str::FromStr for Uuidish {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        if hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) && s.len() <= 36 {
            Ok(Uuidish(s.to_ascii_lowercase()))
        } else {
            Err(())
        }
    }
}
