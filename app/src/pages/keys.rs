//! Settings → API Keys: the list, with deactivate (confirmed in a dialog), rotate (the overlap
//! chosen in a dialog, then the new secret revealed once) and activate in place. Notices say
//! which keys expire, or which the unused-key policy deactivates, within the next days.

use crate::{
    components::{
        action_error, options_html, use_hydrated, Forbidden, FormError, StatusBadge, Time,
    },
    pages::{key_new::Reveal, layout::use_me},
    server_fns::{
        get_key, key_notices, list_groups, list_key_page, ActivateKey, DeactivateKey, RotateKey,
    },
    types::{
        CreatedKey, KeyFilter, KeyNoticesView, KeyState, KeyView, KEYS_PATH, ROTATION_OVERLAPS,
        WARN_DAYS,
    },
};
use leptos::{html, prelude::*};
use leptos_router::{
    components::A,
    hooks::{use_params_map, use_query_map},
};

#[component]
pub fn KeysPage() -> impl IntoView {
    if !use_me().is_admin {
        return view! { <Forbidden/> }.into_any();
    }
    let deactivate = ServerAction::<DeactivateKey>::new();
    let activate = ServerAction::<ActivateKey>::new();
    let rotate = ServerAction::<RotateKey>::new();
    // The list's state lives in the URL, so a filtered view is a link that works without
    // JavaScript; the server reads one page of it, never the whole list.
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        let q = query.read();
        let get = |k: &str| q.get(k).unwrap_or_default();
        KeyFilter {
            q: get("q"),
            status: get("status"),
            group: get("group"),
            sort: get("sort"),
            cursor: get("cursor"),
        }
    });
    let changed = move || {
        (
            deactivate.version().get(),
            activate.version().get(),
            rotate.version().get(),
        )
    };
    let keys = Resource::new(
        move || (filter.get(), changed()),
        |(filter, _)| list_key_page(filter),
    );
    let notices = Resource::new(changed, |_| key_notices());
    let groups = OnceResource::new(list_groups());
    // The key waiting for confirmation in the dialog.
    let confirming = RwSignal::new(None::<KeyView>);
    let dialog = NodeRef::<html::Dialog>::new();
    // The key whose rotation overlap is being chosen, in the other dialog.
    let rotating = RwSignal::new(None::<KeyView>);
    let rotate_dialog = NodeRef::<html::Dialog>::new();
    // The new secret of the last rotation: shown above the list until "Done".
    let rotated = Memo::new(move |_| rotate.value().get().and_then(|r| r.ok()));
    Effect::new(move |_| {
        if deactivate.version().get() > 0 {
            if let Some(d) = dialog.get_untracked() {
                d.close();
            }
        }
    });
    Effect::new(move |_| {
        if rotated.get().is_some() {
            if let Some(d) = rotate_dialog.get_untracked() {
                d.close();
            }
            focus_reveal();
        }
    });
    let ask = move |key: KeyView| {
        confirming.set(Some(key));
        if let Some(d) = dialog.get_untracked() {
            let _ = d.show_modal();
        }
    };
    let ask_rotate = move |key: KeyView| {
        rotating.set(Some(key));
        if let Some(d) = rotate_dialog.get_untracked() {
            let _ = d.show_modal();
        }
    };
    let actions = RowActions {
        activate,
        ask: Callback::new(ask),
        ask_rotate: Callback::new(ask_rotate),
    };
    let close_rotate = move || {
        if let Some(d) = rotate_dialog.get_untracked() {
            d.close();
        }
    };
    view! {
        <header class="page-header">
            <div>
                <h1>"API keys"</h1>
                <p class="muted">"Keys let automation and AI agents call the gateway as themselves."</p>
            </div>
            <A href="/settings/api-keys/new" attr:class="button primary">"Create new API key"</A>
        </header>
        <FormError error=action_error(activate)/>
        {move || rotated.get().map(|created| {
            let heading = format!("API key {} rotated", created.key.name);
            let note = rotation_note(&created);
            view! {
                <Reveal created heading note on_done=Callback::new(move |_| rotate.value().set(None))/>
            }
        })}
        <Transition fallback=|| view! { <p class="loading">"Loading keys…"</p> }>
            {move || Suspend::new(async move {
                let notices = notices.await.ok();
                let groups: Vec<String> = groups
                    .await
                    .map(|g| g.into_iter().map(|g| g.name).collect())
                    .unwrap_or_default();
                let filter = filter.get();
                let list = match keys.await {
                    Ok(page) if page.keys.is_empty() && !filter.is_filtered()
                        && filter.cursor.is_empty() => {
                        return view! { <EmptyState/> }.into_any();
                    }
                    Ok(page) if page.keys.is_empty() => view! {
                        <section class="panel empty no-match" role="status">
                            <h2>"No API keys match these filters"</h2>
                            <p>"Try another name, status or group."</p>
                            <a href=KEYS_PATH class="button">"Clear filters"</a>
                        </section>
                    }.into_any(),
                    Ok(page) => {
                        let next = page.next_cursor.as_deref().map(|c| filter.href(Some(c)));
                        let first = (!filter.cursor.is_empty()).then(|| filter.href(None));
                        view! {
                            <KeyTable keys=page.keys actions/>
                            <nav class="pager" aria-label="Pages of API keys">
                                {first.map(|href| view! { <a href=href class="button">"First page"</a> })}
                                {next.map(|href| view! { <a href=href class="button" rel="next">"Next page"</a> })}
                            </nav>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                };
                view! {
                    {notices.map(|notices| view! { <Notices notices/> })}
                    <FilterForm filter groups/>
                    {list}
                }.into_any()
            })}
        </Transition>
        <dialog node_ref=dialog class="dialog" aria-labelledby="confirm-title">
            {move || confirming.get().map(|key| view! {
                <ConfirmDeactivate key action=deactivate on_cancel=move || {
                    if let Some(d) = dialog.get_untracked() { d.close(); }
                } cancel_href=None/>
            })}
        </dialog>
        <dialog node_ref=rotate_dialog class="dialog" aria-labelledby="rotate-title">
            {move || rotating.get().map(|key| view! {
                <RotateForm key action=rotate on_cancel=close_rotate cancel_href=None/>
            })}
        </dialog>
    }
    .into_any()
}

/// What a row's menu does: activate in place, or open one of the dialogs.
#[derive(Clone, Copy)]
struct RowActions {
    activate: ServerAction<ActivateKey>,
    ask: Callback<KeyView>,
    ask_rotate: Callback<KeyView>,
}

/// After a rotation: until when the old secret still works.
fn rotation_note(created: &CreatedKey) -> String {
    match &created.key.previous_expires_at {
        Some(until) => format!(
            "The old key {} keeps working until {} ({}): move its users to the new one before then.",
            // The start says which key; the 39 asterisks after it say nothing.
            created
                .key
                .previous_masked_key
                .as_deref()
                .map(|m| format!("{}…", m.chars().take(8).collect::<String>()))
                .unwrap_or_default(),
            until.exact,
            until.relative
        ),
        None if !created.key.is_active() => {
            "The old key will never work again; this one works once the key is activated."
                .to_owned()
        }
        None => "The old key has stopped working.".to_owned(),
    }
}

/// Moves focus to the reveal's heading, so keyboard and screen-reader users land on it when
/// the dialog closes.
fn focus_reveal() {
    #[cfg(feature = "hydrate")]
    request_animation_frame(|| {
        use wasm_bindgen::JsCast;
        if let Some(el) = document()
            .get_element_by_id("reveal-title")
            .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    });
}

/// How many keys expire within [`WARN_DAYS`], and which ones the unused-key policy will
/// deactivate by then (counted over all keys, whatever the filter). The rows carry the same
/// marks.
#[component]
fn Notices(notices: KeyNoticesView) -> impl IntoView {
    let KeyNoticesView {
        expiring,
        unused,
        unused_names,
        unused_days,
    } = notices;
    let more = unused.saturating_sub(unused_names.len() as u64);
    view! {
        {(expiring > 0).then(|| view! {
            <p class="warning notice-expiring" role="status">
                <strong>
                    {if expiring == 1 {
                        format!("1 key expires within {WARN_DAYS} days.")
                    } else {
                        format!("{expiring} keys expire within {WARN_DAYS} days.")
                    }}
                </strong>
                {if expiring == 1 {
                    " Give it a later expiry (Configure) before its users are locked out; it is \
                     marked “Expires soon” below."
                } else {
                    " Give them a later expiry (Configure) before their users are locked out; \
                     they are marked “Expires soon” below."
                }}
            </p>
        })}
        {(unused > 0).then(|| view! {
            <p class="warning notice-unused" role="status">
                <strong>
                    {format!(
                        "Unused-key policy: {} will be deactivated within {WARN_DAYS} days: {}{}.",
                        if unused == 1 { "1 key".to_owned() } else if more > 0 {
                            format!("{unused} keys")
                        } else { "these keys".to_owned() },
                        unused_names.join(", "),
                        if more > 0 { format!(" and {more} more") } else { String::new() },
                    )}
                </strong>
                {format!(
                    " Keys not used for {} days are deactivated (HOOP_API_KEY_DEACTIVATE_UNUSED_DAYS); \
                     a request with the key keeps it active.",
                    unused_days.unwrap_or_default()
                )}
            </p>
        })}
    }
    .into_any()
}

/// The list's search, filters and order: a plain GET form, so its state is the URL's.
#[component]
fn FilterForm(filter: KeyFilter, groups: Vec<String>) -> impl IntoView {
    const STATUSES: [(&str, &str); 4] = [
        ("", "Any status"),
        ("active", "Active"),
        ("deactivated", "Deactivated"),
        ("expired", "Expired"),
    ];
    const SORTS: [(&str, &str); 6] = [
        ("", "Oldest first"),
        ("-created_at", "Newest first"),
        ("name", "Name, A to Z"),
        ("-name", "Name, Z to A"),
        ("-last_used_at", "Recently used first"),
        ("last_used_at", "Least recently used first"),
    ];
    let statuses = options_html(STATUSES, &filter.status);
    let group_options = options_html(
        std::iter::once(("", "Any group")).chain(groups.iter().map(|g| (g.as_str(), g.as_str()))),
        &filter.group,
    );
    let sort = if filter.sort == "created_at" {
        String::new()
    } else {
        filter.sort.clone()
    };
    let sorts = options_html(SORTS, &sort);
    let filtered = filter.is_filtered();
    view! {
        <form method="get" action=KEYS_PATH class="key-filters" role="search"
            aria-label="Search and filter API keys">
            <div class="field grow">
                <label for="key-q">"Name contains"</label>
                <input type="search" id="key-q" name="q" value=filter.q.clone()
                    placeholder="Search by name" maxlength="64"/>
            </div>
            <div class="field">
                <label for="key-status">"Status"</label>
                <select id="key-status" name="status" inner_html=statuses></select>
            </div>
            <div class="field">
                <label for="key-group">"Group"</label>
                <select id="key-group" name="group" inner_html=group_options></select>
            </div>
            <div class="field">
                <label for="key-sort">"Sort by"</label>
                <select id="key-sort" name="sort" inner_html=sorts></select>
            </div>
            <div class="filter-actions">
                <button type="submit" class="button primary">"Apply"</button>
                {filtered.then(|| view! { <a href=KEYS_PATH class="button">"Clear filters"</a> })}
            </div>
        </form>
    }
}

/// Choose the overlap, then rotate. In the dialog with JavaScript; as a page of its own
/// (the menu's link) otherwise.
#[component]
fn RotateForm(
    key: KeyView,
    action: ServerAction<RotateKey>,
    on_cancel: impl Fn() + Send + Sync + 'static,
    /// Where Cancel leads when there is no dialog to close (the page of its own).
    cancel_href: Option<&'static str>,
) -> impl IntoView {
    let hydrated = use_hydrated();
    let cancel = match cancel_href {
        Some(href) => view! { <a href=href class="button">"Cancel"</a> }.into_any(),
        None => view! {
            <button type="button" class="button" on:click=move |_| on_cancel()>"Cancel"</button>
        }
        .into_any(),
    };
    let error = action_error(action);
    // A deactivated or expired key's secret works no longer: nothing to overlap with.
    let live = key.is_active();
    view! {
        <h2 id="rotate-title">"Rotate " {key.name.clone()}</h2>
        {if live {
            view! {
                <p>
                    "The key gets a new secret, shown once. Its name, groups and expiry stay. "
                    "Choose how long the current secret keeps working, so its users can move over "
                    "without an outage."
                </p>
            }.into_any()
        } else {
            view! {
                <p>
                    "The key gets a new secret, shown once. Its name, groups and expiry stay, and "
                    "so does its state: the new secret works once the key is activated (or, "
                    "expired, given a later expiry). The old secret never works again."
                </p>
            }.into_any()
        }}
        {key.previous_masked_key.clone().map(|previous| view! {
            <p class="warning" role="note">
                "The secret " <code>{previous}</code> " of the last rotation stops working "
                "at once when you rotate again."
            </p>
        })}
        <p class="notice needs-js">
            "Rotating needs JavaScript: the new key is shown once, in this page, and is never "
            "stored anywhere it could be shown again."
        </p>
        <FormError error/>
        <ActionForm action attr:class="stack">
            <input type="hidden" name="id" value=key.id.clone()/>
            {(!live).then(|| view! { <input type="hidden" name="grace_seconds" value="0"/> })}
            {live.then(|| view! {
                <fieldset>
                    <legend>"The current secret keeps working"</legend>
                    <div class="overlaps">
                        {ROTATION_OVERLAPS.into_iter().map(|(label, secs)| {
                            let id = format!("grace-{secs}");
                            let label_for = id.clone();
                            view! {
                                <label class="choice" for=label_for>
                                    <input type="radio" id=id name="grace_seconds" value=secs.to_string()
                                        checked=secs == 0/>
                                    <span>{if secs == 0 { label.to_owned() } else { format!("For {label}") }}</span>
                                </label>
                            }
                        }).collect_view()}
                    </div>
                </fieldset>
            })}
            <div class="dialog-actions">
                {cancel}
                <button type="submit" class="button primary"
                    disabled=move || !hydrated.get() || action.pending().get()>
                    "Rotate API key"
                </button>
            </div>
        </ActionForm>
    }
}

/// The rotation as a page of its own: where the menu's link leads without JavaScript (which
/// the reveal needs, so the page says so), and works the same with it.
#[component]
pub fn RotatePage() -> impl IntoView {
    if !use_me().is_admin {
        return view! { <Forbidden/> }.into_any();
    }
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let key = Resource::new(id, get_key);
    let rotate = ServerAction::<RotateKey>::new();
    let rotated = Memo::new(move |_| rotate.value().get().and_then(|r| r.ok()));
    view! {
        <header class="page-header"><h1>"Rotate API key"</h1></header>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match key.await {
                    Ok(key) => view! {
                        {move || match rotated.get() {
                            Some(created) => {
                                let heading = format!("API key {} rotated", created.key.name);
                                let note = rotation_note(&created);
                                view! { <Reveal created heading note/> }.into_any()
                            }
                            None => view! {
                                <section class="panel narrow">
                                    <RotateForm key=key.clone() action=rotate on_cancel=|| {}
                                        cancel_href=Some("/settings/api-keys")/>
                                </section>
                            }.into_any(),
                        }}
                    }.into_any(),
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}

#[component]
fn EmptyState() -> impl IntoView {
    view! {
        <section class="panel empty">
            <h2>"No API keys yet"</h2>
            <p>
                "An API key lets a script, a CI job or an AI agent call the gateway without a "
                "browser login, with only the access of the groups you give it. You see the key "
                "once, when you create it."
            </p>
            <A href="/settings/api-keys/new" attr:class="button primary">"Create new API key"</A>
        </section>
    }
}

#[component]
fn KeyTable(keys: Vec<KeyView>, actions: RowActions) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="keys">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Key"</th>
                        <th scope="col">"Groups"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Expires"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Last used"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {keys.into_iter().map(|key| view! { <KeyRow key actions/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn KeyRow(key: KeyView, actions: RowActions) -> impl IntoView {
    let configure = format!("/settings/api-keys/{}/configure", key.id);
    let confirm_page = format!("/settings/api-keys/{}/deactivate", key.id);
    let rotate_page = format!("/settings/api-keys/{}/rotate", key.id);
    let details = format!("{KEYS_PATH}/{}", key.id);
    let for_dialog = key.clone();
    let for_rotate = key.clone();
    let RowActions {
        activate,
        ask,
        ask_rotate,
    } = actions;
    let menu_action = match key.status {
        KeyState::Active => view! {
            <a href=rotate_page on:click=move |ev| {
                // With JavaScript, choose the overlap in a dialog; without, on a page.
                ev.prevent_default();
                close_menu(&ev);
                ask_rotate.run(for_rotate.clone());
            }>"Rotate API key"</a>
            <a href=confirm_page class="danger" on:click=move |ev| {
                // With JavaScript, confirm in a dialog; without, the link
                // leads to a confirmation page.
                ev.prevent_default();
                close_menu(&ev);
                ask.run(for_dialog.clone());
            }>"Deactivate API key"</a>
        }
        .into_any(),
        // Past its expiry, or reported leaked: activating needs a choice made on the
        // configure page; a reported key is best rotated first.
        _ if key.activates_on_configure() => view! {
            {key.leak_reported_at.is_some().then(|| view! {
                <a href=rotate_page.clone() on:click=move |ev| {
                    ev.prevent_default();
                    close_menu(&ev);
                    ask_rotate.run(for_rotate.clone());
                }>"Rotate API key"</a>
            })}
            <a href=format!("{configure}?activate=1")>"Activate API key"</a>
        }
        .into_any(),
        _ => view! {
            <ActionForm action=activate>
                <input type="hidden" name="id" value=key.id.clone()/>
                <button type="submit" class="menu-button">"Activate API key"</button>
            </ActionForm>
        }
        .into_any(),
    };
    let marked = key.expires_soon || key.unused_deactivation.is_some();
    view! {
        <tr data-key=key.name.clone() class:marked=marked>
            <th scope="row" class="name" data-label="Name">
                <a href=details>{key.name.clone()}</a>
            </th>
            <td data-label="Key">
                <code class="masked">{key.masked_key.clone()}</code>
                {key.previous_masked_key.clone().map(|previous| view! {
                    <div class="previous muted small">
                        "Previous " <code class="masked">{previous}</code>
                        {key.previous_expires_at.clone().map(|until| view! {
                            " works until " <Time when=until/>
                        })}
                    </div>
                })}
            </td>
            <td data-label="Groups">
                {key.groups.iter().map(|g| view! { <span class="chip">{g.clone()}</span> }).collect_view()}
            </td>
            <td data-label="Status">
                <StatusBadge status=key.status/>
                {key.leak_reported_at.clone().map(|at| view! {
                    <div><span class="chip chip-danger nowrap" title="Rotate it before activating it">
                        "Leak reported " <Time when=at/>
                    </span></div>
                })}
                {key.deactivated_at.clone().map(|at| view! {
                    <div class="muted small">
                        "by " {key.deactivated_by.clone().unwrap_or_default()} ", " <Time when=at/>
                    </div>
                })}
            </td>
            <td data-label="Expires">
                {match key.expires_at.clone() {
                    Some(at) => view! { <Time when=at/> }.into_any(),
                    None => view! { <span class="muted">"Never"</span> }.into_any(),
                }}
                {key.expires_soon.then(|| view! {
                    <div><span class="chip chip-warning nowrap">"Expires soon"</span></div>
                })}
            </td>
            <td data-label="Created">
                <Time when=key.created_at.clone()/>
                <div class="muted small">"by " {key.created_by.clone()}</div>
            </td>
            <td data-label="Last used">
                {match key.last_used_at.clone() {
                    Some(at) => view! { <Time when=at/> }.into_any(),
                    None => view! { <span class="muted">"Never"</span> }.into_any(),
                }}
                {key.unused_deactivation.clone().map(|at| view! {
                    <div>
                        <span class="chip chip-warning">"Unused: deactivated " <Time when=at/></span>
                    </div>
                })}
            </td>
            <td class="actions">
                <details class="menu">
                    <summary aria-label=format!("Actions for {}", key.name)>"Actions"</summary>
                    <div class="menu-items">
                        <a href=configure>"Configure"</a>
                        {menu_action}
                    </div>
                </details>
            </td>
        </tr>
    }
    .into_any()
}

/// Closes the `<details>` menu the event came from.
fn close_menu(ev: &leptos::ev::MouseEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let menu = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|el| el.closest("details").ok().flatten());
        if let Some(menu) = menu {
            let _ = menu.remove_attribute("open");
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}

#[component]
fn ConfirmDeactivate(
    key: KeyView,
    action: ServerAction<DeactivateKey>,
    on_cancel: impl Fn() + Send + Sync + 'static,
    /// Where Cancel leads when there is no dialog to close (the page without JavaScript).
    cancel_href: Option<&'static str>,
) -> impl IntoView {
    let cancel = match cancel_href {
        Some(href) => view! { <a href=href class="button">"Cancel"</a> }.into_any(),
        None => view! {
            <button type="button" class="button" on:click=move |_| on_cancel()>"Cancel"</button>
        }
        .into_any(),
    };
    view! {
        <h2 id="confirm-title">"Deactivate " {key.name.clone()} "?"</h2>
        <p>
            "Requests with this key are refused from the next one on. You can activate it again "
            "later; the same secret will work."
        </p>
        <FormError error=action_error(action)/>
        <ActionForm action attr:class="dialog-actions">
            <input type="hidden" name="id" value=key.id.clone()/>
            {cancel}
            <button type="submit" class="button danger" autofocus>"Deactivate API key"</button>
        </ActionForm>
    }
}

/// The confirmation as a page of its own, for browsers without JavaScript.
#[component]
pub fn DeactivatePage() -> impl IntoView {
    if !use_me().is_admin {
        return view! { <Forbidden/> }.into_any();
    }
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let key = Resource::new(id, get_key);
    let deactivate = ServerAction::<DeactivateKey>::new();
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match key.await {
                    Ok(key) => view! {
                        <section class="panel narrow">
                            <ConfirmDeactivate key action=deactivate on_cancel=|| {}
                                cancel_href=Some("/settings/api-keys")/>
                        </section>
                    }.into_any(),
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
    .into_any()
}
