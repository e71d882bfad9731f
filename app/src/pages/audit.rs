//! Settings → Audit log: every change, newest first, filtered by actor, action and target. The
//! filters and the page live in the URL (a plain GET form), so a filtered view can be shared
//! and works without JavaScript.

use crate::{
    components::{FilterField, Forbidden, Time},
    pages::layout::use_me,
    server_fns::audit_log,
    types::{AuditEventView, AuditFilter, DetailView},
};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The actions the log records, offered as the action field's suggestions.
const ACTIONS: [&str; 14] = [
    "api_key.created",
    "api_key.updated",
    "api_key.rotated",
    "api_key.deactivated",
    "api_key.activated",
    "api_key.expiring",
    "api_key.expired",
    "api_key.new_client",
    "api_key.leak_reported",
    "connection.created",
    "connection.updated",
    "connection.deleted",
    "group.created",
    "user.created",
];

/// A URL of this page with these filters; blank ones are left out.
pub fn audit_href(filter: &AuditFilter) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("actor", filter.actor.clone()),
        ("action", filter.action.clone()),
        ("target", filter.target.clone()),
        ("before", filter.before.map(|b| b.to_string())),
    ] {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            query.append_pair(name, &v);
        }
    }
    let query = query.finish();
    if query.is_empty() {
        "/settings/audit".into()
    } else {
        format!("/settings/audit?{query}")
    }
}

#[component]
pub fn AuditLogPage() -> impl IntoView {
    if !use_me().is_admin {
        return view! { <Forbidden/> }.into_any();
    }
    let query = use_query_map();
    let filter = move || {
        let q = query.read();
        let text = |name: &str| q.get(name).filter(|v| !v.trim().is_empty());
        AuditFilter {
            actor: text("actor"),
            action: text("action"),
            target: text("target"),
            before: q.get("before").and_then(|b| b.parse().ok()),
        }
    };
    let page = Resource::new(filter, |f| audit_log(f.actor, f.action, f.target, f.before));
    view! {
        <header class="page-header">
            <div>
                <h1>"Audit log"</h1>
                <p class="muted">"Every change to keys, users, groups and connections, newest first."</p>
            </div>
        </header>
        // Drawn again when the URL changes: a link (Clear, a key's sessions) updates the
        // fields along with the list.
        {move || {
            let current = filter();
            let filtered = current.narrows();
            view! {
                <form method="get" action="/settings/audit" class="filters panel" role="search"
                    aria-label="Filter the audit log">
                    <FilterField name="actor" label="Actor" hint="An email or a key's name"
                        value=current.actor.clone()/>
                    <FilterField name="action" label="Action" hint="Such as api_key.rotated"
                        value=current.action.clone() list="audit-actions">
                        <datalist id="audit-actions">
                            {ACTIONS.map(|a| view! { <option value=a></option> }).collect_view()}
                        </datalist>
                    </FilterField>
                    <FilterField name="target" label="Target" hint="Its name or id"
                        value=current.target.clone()/>
                    <div class="filter-actions">
                        <button type="submit" class="button primary">"Filter"</button>
                        {filtered.then(|| view! { <a href="/settings/audit" class="button">"Clear"</a> })}
                    </div>
                </form>
            }
        }}
        <Suspense fallback=|| view! { <p class="loading">"Loading the audit log…"</p> }>
            {move || Suspend::new(async move {
                let current = filter();
                let filtered = current.narrows();
                match page.await {
                    Ok(page) if page.events.is_empty() => view! {
                        <section class="panel empty">
                            <h2>"No events"</h2>
                            <p>{if current.before.is_some() {
                                "There are no older events."
                            } else if filtered {
                                "No event matches these filters."
                            } else {
                                "Changes to keys, users, groups and connections will show here."
                            }}</p>
                        </section>
                    }.into_any(),
                    Ok(page) => {
                        let newest = current.before.map(|_| audit_href(&AuditFilter {
                            before: None,
                            ..current.clone()
                        }));
                        let older = page.older.map(|before| audit_href(&AuditFilter {
                            before: Some(before),
                            ..current.clone()
                        }));
                        view! {
                            <EventTable events=page.events show_target=true/>
                            <Pager newest older/>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

/// "Newest" and "Older" links under a paged list.
#[component]
pub fn Pager(newest: Option<String>, older: Option<String>) -> impl IntoView {
    (newest.is_some() || older.is_some()).then(|| {
        view! {
            <nav class="pager" aria-label="Pages">
                {newest.map(|href| view! { <a href=href class="button">"← Newest"</a> })}
                {older.map(|href| view! { <a href=href class="button">"Older →"</a> })}
            </nav>
        }
    })
}

/// Audit events as a table; on a key's page the target column is left out.
#[component]
pub fn EventTable(events: Vec<AuditEventView>, show_target: bool) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data events">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Actor"</th>
                        <th scope="col">"Action"</th>
                        {show_target.then(|| view! { <th scope="col">"Target"</th> })}
                        <th scope="col">"Details"</th>
                    </tr>
                </thead>
                <tbody>
                    {events.into_iter().map(|e| view! { <EventRow event=e show_target/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn EventRow(event: AuditEventView, show_target: bool) -> impl IntoView {
    let kind = match event.target_kind.as_str() {
        "api_key" => "API key",
        "user" => "User",
        "group" => "Group",
        "connection" => "Connection",
        other => other,
    }
    .to_owned();
    let target = show_target.then(|| {
        view! {
            <td data-label="Target">
                <span class="muted small">{kind} " "</span>
                <a href=event.target_href.clone()>{event.target_name.clone()}</a>
            </td>
        }
    });
    let details = (!event.details.is_empty()).then(|| {
        view! {
            <ul class="details">
                {event.details.into_iter().map(|d| match d {
                    DetailView::Value { field, value } => view! {
                        <li><span class="field">{field} ": "</span>{value}</li>
                    }.into_any(),
                    DetailView::Change { field, from, to } => view! {
                        <li>
                            <span class="field">{field} ": "</span>
                            <span class="visually-hidden">"from "</span>
                            <span class="from">{from}</span>
                            <span aria-hidden="true">" → "</span>
                            <span class="visually-hidden">" to "</span>
                            <span class="to">{to}</span>
                        </li>
                    }.into_any(),
                }).collect_view()}
            </ul>
        }
    });
    view! {
        <tr data-event=event.id.to_string()>
            <td data-label="When" class="nowrap"><Time when=event.at/></td>
            <td data-label="Actor" class="wrap-anywhere">{event.actor}</td>
            <td data-label="Action"><code>{event.action}</code></td>
            {target}
            <td data-label="Details" class="wide">{details}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_only_the_filters_given() {
        assert_eq!(audit_href(&AuditFilter::default()), "/settings/audit");
        assert_eq!(
            audit_href(&AuditFilter {
                actor: Some("a@b.c".into()),
                action: Some(" ".into()),
                target: None,
                before: Some(7),
            }),
            "/settings/audit?actor=a%40b.c&before=7"
        );
    }
}
