//! A key's daily use as a bar chart, drawn on the server as inline SVG: readable without
//! JavaScript, with a title and description for screen readers and a table of the same days.
//!
//! The bars stretch to the width they get (`preserveAspectRatio="none"`); the labels are HTML
//! around them, so they keep their size on a phone instead of shrinking with the drawing.

use crate::types::UsageDayView;
use leptos::prelude::*;

/// Height of the drawing in its own units: a bar of the scale's top is this tall.
const HEIGHT: f64 = 100.0;
/// Width of one day in the drawing's units.
const SLOT: f64 = 10.0;

/// The smallest of 1, 2, 5, 10, 20, 50, … that is at least `max`: the top of the scale.
pub fn scale_top(max: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            if step.saturating_mul(m) >= max {
                return step.saturating_mul(m);
            }
        }
        step = step.saturating_mul(10);
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "2026-12-03" as "Dec 3".
fn short_date(date: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = date
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)));
    let day = date.get(8..10).and_then(|d| d.parse::<u32>().ok());
    match (month, day) {
        (Some(m), Some(d)) => format!("{m} {d}"),
        _ => date.to_owned(),
    }
}

/// What a day's bar says, for its tooltip and the summary.
fn day_text(d: &UsageDayView) -> String {
    format!(
        "{}: {}, {} refused, {}",
        d.date,
        plural(d.requests, "request", "requests"),
        d.refused,
        plural(d.execs, "exec", "execs")
    )
}

/// The description a screen reader reads for the drawing.
pub fn describe(days: &[UsageDayView]) -> String {
    let requests: u64 = days.iter().map(|d| d.requests).sum();
    let refused: u64 = days.iter().map(|d| d.refused).sum();
    let execs: u64 = days.iter().map(|d| d.execs).sum();
    let span = match (days.first(), days.last()) {
        (Some(first), Some(last)) => format!("From {} to {}", first.date, last.date),
        _ => "No days".to_owned(),
    };
    let busiest = days
        .iter()
        .filter(|d| d.requests + d.refused > 0)
        .max_by_key(|d| (d.requests + d.refused, std::cmp::Reverse(d.date.clone())))
        .map(|d| format!(" Busiest day {}.", day_text(d)))
        .unwrap_or_else(|| " The key was not used.".to_owned());
    format!(
        "{span}: {} accepted, {} refused, {}.{busiest}",
        plural(requests, "request", "requests"),
        refused,
        plural(execs, "exec", "execs"),
    )
}

#[component]
pub fn UsageChart(days: Vec<UsageDayView>) -> impl IntoView {
    let top = scale_top(
        days.iter()
            .map(|d| (d.requests + d.refused).max(d.execs))
            .max()
            .unwrap_or(0)
            .max(1),
    );
    let height = |n: u64| n as f64 / top as f64 * HEIGHT;
    let width = SLOT * days.len().max(1) as f64;
    let description = describe(&days);
    let totals = (
        days.iter().map(|d| d.requests).sum::<u64>(),
        days.iter().map(|d| d.refused).sum::<u64>(),
        days.iter().map(|d| d.execs).sum::<u64>(),
    );
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let x = i as f64 * SLOT;
            let ok = height(d.requests);
            let refused = height(d.refused);
            let execs = height(d.execs);
            view! {
                <g class="day">
                    // Spelled out: `<title>` alone would be read as the HTML element.
                    {leptos::tachys::svg::title().child(day_text(d))}
                    // The whole slot, so hovering anywhere over the day shows its numbers.
                    <rect class="slot" x=x y="0" width=SLOT height=HEIGHT/>
                    {(d.requests > 0).then(|| view! {
                        <rect class="requests" x=x + 1.5 y=HEIGHT - ok width="7" height=ok/>
                    })}
                    {(d.refused > 0).then(|| view! {
                        <rect class="refused" x=x + 1.5 y=HEIGHT - ok - refused width="7"
                            height=refused fill="url(#refused-hatch)"/>
                    })}
                    {(d.execs > 0).then(|| view! {
                        <rect class="execs" x=x + 3.5 y=HEIGHT - execs width="3" height=execs/>
                    })}
                </g>
            }
        })
        .collect_view()
        .into_any();
    let first = days
        .first()
        .map(|d| short_date(&d.date))
        .unwrap_or_default();
    let middle = days
        .get(days.len() / 2)
        .map(|d| short_date(&d.date))
        .unwrap_or_default();
    let rows = days
        .iter()
        .rev()
        .map(|d| {
            view! {
                <tr>
                    <th scope="row">{d.date.clone()}</th>
                    <td>{d.requests}</td>
                    <td>{d.refused}</td>
                    <td>{d.execs}</td>
                </tr>
            }
        })
        .collect_view()
        .into_any();
    let figure = view! {
            <figure class="chart" id="usage-chart">
                <div class="chart-body">
                    <div class="chart-scale" aria-hidden="true">
                        <span>{top}</span>
                        <span>{if top.is_multiple_of(2) { (top / 2).to_string() } else { String::new() }}</span>
                        <span>"0"</span>
                    </div>
                    <div class="chart-plot">
                        <svg role="img" aria-labelledby="usage-title usage-desc"
                            viewBox=format!("0 0 {width} {HEIGHT}") preserveAspectRatio="none"
                            xmlns="http://www.w3.org/2000/svg">
                            <title id="usage-title">"Requests per day, last 30 days"</title>
                            <desc id="usage-desc">{description}</desc>
                            <defs>
                                <pattern id="refused-hatch" width="3" height="3"
                                    patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
                                    <rect width="3" height="3" fill="#b3261e"/>
                                    <rect width="1.2" height="3" fill="#f0b8b3"/>
                                </pattern>
                            </defs>
                            <line class="grid" x1="0" x2=width y1="0.5" y2="0.5"/>
                            <line class="grid" x1="0" x2=width y1=HEIGHT / 2.0 y2=HEIGHT / 2.0/>
                            <line class="axis" x1="0" x2=width y1=HEIGHT - 0.5 y2=HEIGHT - 0.5/>
                            {bars}
                        </svg>
                        <div class="chart-dates" aria-hidden="true">
                            <span>{first}</span>
                            <span>{middle}</span>
                            <span>"Today"</span>
                        </div>
                    </div>
                </div>
                <figcaption class="chart-legend">
                    <span><span class="swatch swatch-requests"></span>"Accepted requests"</span>
                    <span><span class="swatch swatch-refused"></span>"Refused (stacked on top)"</span>
                    <span><span class="swatch swatch-execs"></span>"Execs (inside the bar)"</span>
                </figcaption>
            </figure>
    }
    .into_any();
    let table = view! {
            <details class="usage-table">
                <summary>"Usage by day, as a table"</summary>
                <div class="table-wrap">
                    <table class="data compact">
                        <caption class="visually-hidden">"Requests per day, newest first"</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Day (UTC)"</th>
                                <th scope="col">"Accepted"</th>
                                <th scope="col">"Refused"</th>
                                <th scope="col">"Execs"</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            </details>
    }
    .into_any();
    view! {
        <div class="usage">
            <p class="usage-totals">
                <span><strong>{totals.0}</strong> " accepted"</span>
                <span><strong>{totals.1}</strong> " refused"</span>
                <span><strong>{totals.2}</strong> " execs"</span>
                <span class="muted">"in the last " {days.len()} " days (UTC)"</span>
            </p>
            {figure}
            {table}
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_ends_on_a_round_number() {
        assert_eq!(scale_top(1), 1);
        assert_eq!(scale_top(3), 5);
        assert_eq!(scale_top(7), 10);
        assert_eq!(scale_top(11), 20);
        assert_eq!(scale_top(500), 500);
        assert_eq!(scale_top(501), 1000);
    }

    #[test]
    fn dates_read_short() {
        assert_eq!(short_date("2026-12-03"), "Dec 3");
        assert_eq!(short_date("odd"), "odd");
    }

    #[test]
    fn the_description_says_the_totals_and_the_busiest_day() {
        let day = |date: &str, requests, refused, execs| UsageDayView {
            date: date.into(),
            requests,
            refused,
            execs,
        };
        let text = describe(&[day("2026-12-01", 2, 0, 0), day("2026-12-02", 5, 1, 1)]);
        assert_eq!(
            text,
            "From 2026-12-01 to 2026-12-02: 7 requests accepted, 1 refused, 1 exec. \
             Busiest day 2026-12-02: 5 requests, 1 refused, 1 exec."
        );
        assert!(describe(&[day("2026-12-01", 0, 0, 0)]).ends_with("The key was not used."));
    }
}
