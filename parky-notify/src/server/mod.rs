//! The alert intake endpoint (feature `server`): HTTP in front of a [`Service`].
//!
//! # Endpoints
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /api/v1/alertmanager` | an Alertmanager webhook payload, version `"4"` ([`payload::parse_alertmanager_webhook`]) | `200 {"status":"success","alerts":N}` |
//! | `POST /api/v1/alerts` | one alert or an array: Alertmanager API v2 `postableAlert`s plus `source` ([`payload::parse_generic_alerts`]) | `200 {"status":"success","alerts":N}` |
//! | `GET /healthz` | — | `200 {"status":"ok","outbox":{"pending":…,"in_flight":…,"delivered":…,"dead":…},"pipeline":{"groups":…,"pending_messages":…}}`, or `503` with `"status":"error"` when the outbox cannot be read |
//!
//! A body that does not parse or does not have the documented shape, or a webhook payload of
//! another version, gets `400 {"status":"error","field":"alerts[0].startsAt","error":"alerts[0].startsAt: …"}`
//! (`field` is the JSON path inside the body: `alerts[0].startsAt` in a webhook payload,
//! `[0].startsAt` in an array of generic alerts, `startsAt` in a single one);
//! a body over [`MAX_BODY_BYTES`] gets `413` with the same shape (`"field":"$"`). Alerts that
//! were parsed but whose pipeline state could not be stored in the outbox get `503` with the
//! same shape (`"field":"$"`): the sender should send them again. The
//! `Content-Type` is not checked (Alertmanager sends `application/json`).
//!
//! Point Alertmanager at the first endpoint with a webhook receiver, keeping its default
//! `send_resolved: true` so that Parky learns when alerts resolve:
//!
//! ```yaml
//! receivers:
//!   - name: parky
//!     webhook_configs:
//!       - url: http://parky.internal:9095/api/v1/alertmanager
//! ```
//!
//! Accepted alerts go into the service's pipeline at once (routing, grouping and the severity
//! strategy of Parky's own configuration apply, on top of whatever Alertmanager did); they
//! reach the outbox and the receivers through [`Service::run`], which [`serve`] runs beside
//! the HTTP server.

pub mod payload;
mod service;

use std::future::{Future, IntoFuture};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

pub use self::service::{RunReport, Service, DEFAULT_POLL_INTERVAL};

use crate::error::NotifyError;

/// The Alertmanager webhook endpoint.
pub const ALERTMANAGER_PATH: &str = "/api/v1/alertmanager";
/// The generic alert endpoint.
pub const ALERTS_PATH: &str = "/api/v1/alerts";
/// The health endpoint.
pub const HEALTH_PATH: &str = "/healthz";
/// The largest request body accepted: 1 MiB (about a thousand alerts).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The endpoints over `service`, for embedding in a larger axum application (or calling in
/// tests). [`serve`] uses it.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route(ALERTMANAGER_PATH, post(alertmanager))
        .route(ALERTS_PATH, post(alerts))
        .route(HEALTH_PATH, get(health))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(service)
}

/// Serves the endpoints on `listener` and runs the delivery loop ([`Service::run`]) beside
/// them, until `shutdown` resolves (e.g. `tokio::signal::ctrl_c()`): then the server stops
/// accepting connections, finishes the requests in progress, and the loop writes what the
/// pipeline has due to the outbox before both return.
///
/// # Errors
/// [`NotifyError::Server`] if serving fails; the delivery loop is stopped too.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<Service>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NotifyError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "alert intake listening");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        // An error means the sender is gone, which only happens once `serve` returns.
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let trigger = async {
        tokio::select! {
            () = shutdown => {}
            () = stopped(stop_rx.clone()) => {}
        }
        let _ = stop_tx.send(true);
    };
    let http = async {
        let result = axum::serve(listener, router(Arc::clone(&service)))
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future()
            .await;
        // Whatever ended the server ends the loop too.
        let _ = stop_tx.send(true);
        result
    };
    let deliver = service.run(stopped(stop_rx.clone()));
    let ((), result, ()) = tokio::join!(trigger, http, deliver);
    result.map_err(|e| NotifyError::Server {
        operation: "serve",
        message: e.to_string(),
    })
}

async fn alertmanager(
    State(service): State<Arc<Service>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_rejected(&rejection),
    };
    let now = service.clock().now();
    match payload::parse_alertmanager_webhook(&body, now, service.alertmanager_ttl()) {
        Ok(group) => {
            if group.truncated_alerts > 0 {
                tracing::warn!(
                    receiver = %group.receiver,
                    truncated = group.truncated_alerts,
                    "Alertmanager left alerts out of the notification (max_alerts)"
                );
            }
            tracing::debug!(receiver = %group.receiver, group_key = %group.group_key, status = %group.status, alerts = group.alerts.len(), "Alertmanager notification");
            accepted(service.ingest(group.alerts, now))
        }
        Err(e) => bad_request(&e),
    }
}

async fn alerts(
    State(service): State<Arc<Service>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_rejected(&rejection),
    };
    let now = service.clock().now();
    match payload::parse_generic_alerts(&body, now) {
        Ok(alerts) => accepted(service.ingest(alerts, now)),
        Err(e) => bad_request(&e),
    }
}

async fn health(State(service): State<Arc<Service>>) -> Response {
    let (groups, pending_messages) = service.pipeline_counts();
    match service.outbox().counts(service.clock().now()) {
        Ok(c) => (
            StatusCode::OK,
            Json(json!({
                "status": "ok",
                "outbox": {
                    "pending": c.pending,
                    "in_flight": c.in_flight,
                    "delivered": c.delivered,
                    "dead": c.dead,
                },
                "pipeline": {
                    "groups": groups,
                    "pending_messages": pending_messages,
                },
            })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "error", "error": e.to_string()})),
        )
            .into_response(),
    }
}

fn accepted(stored: Result<usize, NotifyError>) -> Response {
    match stored {
        Ok(count) => (
            StatusCode::OK,
            Json(json!({"status": "success", "alerts": count})),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "alerts received but not stored");
            error_response(StatusCode::SERVICE_UNAVAILABLE, "$", &e.to_string())
        }
    }
}

fn bad_request(error: &NotifyError) -> Response {
    let field = match error {
        NotifyError::InvalidPayload { field, .. } => field.as_str(),
        _ => "$",
    };
    error_response(StatusCode::BAD_REQUEST, field, &error.to_string())
}

fn body_rejected(rejection: &BytesRejection) -> Response {
    error_response(
        rejection.status(),
        "$",
        &format!("$: {}", rejection.body_text()),
    )
}

fn error_response(status: StatusCode, field: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"status": "error", "field": field, "error": message})),
    )
        .into_response()
}
