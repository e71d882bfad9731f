//! One key at work: everything the key object holds, where it was used from, its last 30 days
//! of use, its audit events and its latest exec sessions, with the list menu's actions.

use crate::{
    components::{action_error, short_utc, Forbidden, FormError, StatusBadge, Time},
    error::UiError,
    pages::{
        audit::{audit_href, EventTable},
        layout::use_me,
        sessions::{sessions_href, SessionTable},
        usage_chart::UsageChart,
    },
    server_fns::{key_page, ActivateKey},
    types::{AuditFilter, KeyDetailView, KeyState, KeyView, SessionFilter, USAGE_DAYS},
};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn KeyDetailPage() -> impl IntoView {
    if !use_me().is_admin {
        return view! { <Forbidden/> }.into_any();
    }
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let activate = ServerAction::<ActivateKey>::new();
    let page = Resource::new(
        move || (id(), activate.version().get()),
        |(id, _)| key_page(id),
    );
    view! {
        <p class="breadcrumb"><a href="/settings/api-keys">"← API keys"</a></p>
        <FormError error=action_error(activate)/>
        <Suspense fallback=|| view! { <p class="loading">"Loading the key…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(page) => view! { <KeyDetail page activate/> }.into_any(),
                    Err(UiError::NotFound(_)) => view! { <NotFound/> }.into_any(),
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="panel narrow">
            <h1>"API key not found"</h1>
            <p>"No API key of this organization has this id. It may have been mistyped."</p>
            <a href="/settings/api-keys">"Back to API keys"</a>
        </section>
    }
}

/// The list menu's actions, as buttons: links to their pages (which work without
/// JavaScript), and activation in place for a key that needs no new expiry.
#[component]
fn Actions(key: KeyView, activate: ServerAction<ActivateKey>) -> impl IntoView {
    let base = format!("/settings/api-keys/{}", key.id);
    let state_action = match key.status {
        KeyState::Active => view! {
            <a href=format!("{base}/rotate") class="button">"Rotate API key"</a>
            <a href=format!("{base}/deactivate") class="button danger-outline">"Deactivate API key"</a>
        }
        .into_any(),
        // Past its expiry, or reported leaked: activating needs a choice made on the
        // configure page; a reported key is best rotated first.
        _ if key.activates_on_configure() => view! {
            {key.leak_reported_at.is_some().then(|| view! {
                <a href=format!("{base}/rotate") class="button primary">"Rotate API key"</a>
            })}
            <a href=format!("{base}/configure?activate=1") class="button">"Activate API key"</a>
        }
        .into_any(),
        _ => view! {
            <ActionForm action=activate>
                <input type="hidden" name="id" value=key.id.clone()/>
                <button type="submit" class="button">"Activate API key"</button>
            </ActionForm>
        }
        .into_any(),
    };
    view! {
        <div class="key-actions">
            <a href=format!("{base}/configure") class="button">"Configure"</a>
            {state_action}
        </div>
    }
}

#[component]
fn KeyDetail(page: KeyDetailView, activate: ServerAction<ActivateKey>) -> impl IntoView {
    let KeyDetailView {
        key,
        last_used_ip,
        last_used_user_agent,
        recent_clients,
        usage,
        events,
        sessions,
    } = page;
    let all_events = audit_href(&AuditFilter {
        target: Some(key.id.clone()),
        ..Default::default()
    });
    let all_sessions = sessions_href(&SessionFilter {
        caller: Some(key.id.clone()),
        ..Default::default()
    });
    view! {
        <header class="page-header">
            <div>
                <h1 class="key-title">{key.name.clone()} " " <StatusBadge status=key.status/></h1>
                <p class="muted">"API key"</p>
            </div>
            <Actions key=key.clone() activate/>
        </header>
        {key.leak_reported_at.clone().map(|at| view! {
            <p class="warning danger" role="note">
                "A secret of this key was reported leaked " <Time when=at/> ". Rotate it before "
                "activating it: activating it as it is brings the reported secret back."
            </p>
        })}
        {key.expires_soon.then(|| view! {
            <p class="warning" role="note">
                "This key expires soon. Give it a later expiry (Configure) before its users are locked out."
            </p>
        })}
        {key.unused_deactivation.clone().map(|at| view! {
            <p class="warning" role="note">
                "Unused-key policy: this key will be deactivated " <Time when=at/>
                " unless it is used before then."
            </p>
        })}
        <Facts key=key.clone() last_used_ip last_used_user_agent/>
        <section class="panel" aria-labelledby="usage-heading">
            <h2 id="usage-heading">{format!("Usage, last {USAGE_DAYS} days")}</h2>
            <UsageChart days=usage/>
        </section>
        <section class="panel" aria-labelledby="clients-title">
            <h2 id="clients-title">"Recent clients"</h2>
            {if recent_clients.is_empty() {
                view! { <p class="muted">"The key has not been used yet."</p> }.into_any()
            } else {
                view! {
                    <p class="muted small">"The last addresses the key was used from, most recent first."</p>
                    <div class="table-wrap">
                        <table class="data clients">
                            <thead>
                                <tr>
                                    <th scope="col">"Address"</th>
                                    <th scope="col">"User agent"</th>
                                    <th scope="col">"Last seen"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {recent_clients.into_iter().map(|c| view! {
                                    <tr>
                                        <td data-label="Address"><code>{c.ip}</code></td>
                                        <td data-label="User agent" class="wrap-anywhere wide">
                                            {c.user_agent.unwrap_or_else(|| "None sent".into())}
                                        </td>
                                        <td data-label="Last seen" class="nowrap"><Time when=c.last_seen/></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
        <section class="panel" aria-labelledby="events-title">
            <div class="section-head">
                <h2 id="events-title">"Audit events"</h2>
                <a href=all_events>"All events for this key"</a>
            </div>
            {if events.is_empty() {
                view! { <p class="muted">"No events."</p> }.into_any()
            } else {
                view! { <EventTable events show_target=false/> }.into_any()
            }}
        </section>
        <section class="panel" aria-labelledby="sessions-title">
            <div class="section-head">
                <h2 id="sessions-title">"Latest exec sessions"</h2>
                <a href=all_sessions>"All sessions of this key"</a>
            </div>
            {if sessions.is_empty() {
                view! { <p class="muted">"The key has not run any script."</p> }.into_any()
            } else {
                view! { <SessionTable sessions/> }.into_any()
            }}
        </section>
    }
    .into_any()
}

/// Everything the key object holds.
#[component]
fn Facts(
    key: KeyView,
    last_used_ip: Option<String>,
    last_used_user_agent: Option<String>,
) -> impl IntoView {
    let never = || view! { <span class="muted">"Never"</span> };
    view! {
        <section class="panel" aria-labelledby="details-title">
            <h2 id="details-title">"Details"</h2>
            <dl class="facts">
                <div><dt>"Key"</dt><dd><code class="masked" title=key.masked_key.clone()>{key.masked_key.clone()}</code></dd></div>
                <div><dt>"Status"</dt><dd><StatusBadge status=key.status/></dd></div>
                <div>
                    <dt>"Groups"</dt>
                    <dd>{key.groups.iter().map(|g| view! { <span class="chip">{g.clone()}</span> }).collect_view()}</dd>
                </div>
                <div>
                    <dt>"Created"</dt>
                    <dd><Time when=key.created_at.clone()/> " by " {key.created_by.clone()}</dd>
                </div>
                {key.deactivated_at.clone().map(|at| view! {
                    <div>
                        <dt>"Deactivated"</dt>
                        <dd><Time when=at/> " by " {key.deactivated_by.clone().unwrap_or_default()}</dd>
                    </div>
                })}
                <div>
                    <dt>"Expires"</dt>
                    <dd>{match key.expires_at.clone() {
                        Some(at) => {
                            let exact = short_utc(&at.exact);
                            // Far off, the relative time is the date itself: said once is enough.
                            let relative = (!exact.starts_with(&at.relative))
                                .then(|| view! { " (" <Time when=at/> ")" });
                            view! {
                                {if key.expired { "Expired " } else { "" }}
                                {exact} {relative}
                            }.into_any()
                        }
                        None => view! { <span>"Never"</span> }.into_any(),
                    }}</dd>
                </div>
                {key.previous_masked_key.clone().map(|previous| view! {
                    <div>
                        <dt>"Rotation overlap"</dt>
                        <dd>
                            "The previous secret " <code class="masked">{previous}</code> " works until "
                            {key.previous_expires_at.clone().map(|until| view! { <Time when=until/> })}
                        </dd>
                    </div>
                })}
                <div>
                    <dt>"Last used"</dt>
                    <dd>{match key.last_used_at.clone() {
                        Some(at) => view! { <Time when=at/> }.into_any(),
                        None => never().into_any(),
                    }}</dd>
                </div>
                <div>
                    <dt>"Last used from"</dt>
                    <dd>{match last_used_ip {
                        Some(ip) => view! { <code>{ip}</code> }.into_any(),
                        None => never().into_any(),
                    }}</dd>
                </div>
                <div>
                    <dt>"Last user agent"</dt>
                    <dd class="wrap-anywhere">{match last_used_user_agent {
                        Some(ua) => view! { <code>{ua}</code> }.into_any(),
                        None => view! { <span class="muted">"None sent"</span> }.into_any(),
                    }}</dd>
                </div>
            </dl>
        </section>
    }
    .into_any()
}
