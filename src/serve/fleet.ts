/**
 * The fleet section of the catalogue page: which versions hosts run and how
 * their boots go, per version. The catalogue knows nothing about where these
 * numbers come from; a source (Prometheus, for `serve --prometheus`) fills a
 * `FleetData` and the page renders it as CSS bars, without JavaScript.
 */
import { html, type SafeHtml } from './html.js';

/** What the page shows about the fleet. */
export interface FleetData {
  /** Where the numbers come from (shown, e.g. a Prometheus URL without credentials). */
  source: string;
  /** RFC 3339 time of the numbers. */
  at: string;
  /** Hosts per family and version. */
  versions: { family: string; version: string; hosts: number }[];
  /** Boot outcomes per family and version over the source's window. */
  boots: { family: string; version: string; success: number; failure: number }[];
  /** Set when the source could not be queried: shown instead of numbers. */
  error?: string;
}

/** The fleet section, or nothing when there is no fleet data. */
export function renderFleet(fleet: FleetData | undefined): SafeHtml {
  if (!fleet) return html``;
  if (fleet.error) {
    return html`<section id="fleet"><h2>Fleet</h2><p class="bad">Fleet numbers unavailable from ${fleet.source}: ${fleet.error}</p></section>`;
  }
  const maxHosts = Math.max(1, ...fleet.versions.map((v) => v.hosts));
  const versions = fleet.versions.map(
    (v) => html`<tr><td data-label="Family">${v.family}</td><td data-label="Version">${v.version}</td>
<td data-label="Hosts" class="num">${v.hosts}</td><td class="barcell"><span class="bar" style="width:${Math.round((v.hosts / maxHosts) * 100)}%"></span></td></tr>`,
  );
  const boots = fleet.boots.map((b) => {
    const total = b.success + b.failure;
    const rate = total === 0 ? undefined : b.success / total;
    return html`<tr><td data-label="Family">${b.family}</td><td data-label="Version">${b.version}</td>
<td data-label="Boots" class="num">${total}</td><td data-label="Success" class="num ${rate !== undefined && rate < 0.9 ? 'bad' : ''}">${rate === undefined ? '–' : `${(rate * 100).toFixed(1)} %`}</td>
<td class="barcell"><span class="bar ok" style="width:${rate === undefined ? 0 : Math.round(rate * 100)}%"></span></td></tr>`;
  });
  return html`<section id="fleet"><h2>Fleet</h2>
<p class="muted">From ${fleet.source} at ${fleet.at}.</p>
<h3>Version distribution</h3>
<table class="cards"><thead><tr><th>Family</th><th>Version</th><th>Hosts</th><th></th></tr></thead><tbody>${versions}</tbody></table>
<h3>Boot success by version</h3>
<table class="cards"><thead><tr><th>Family</th><th>Version</th><th>Boots</th><th>Success</th><th></th></tr></thead><tbody>${boots}</tbody></table>
</section>`;
}
