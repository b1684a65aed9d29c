/** Resolve + render in one step, for `cloud-init render` and `launch`. */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { resolveProfile, type ResolvedProfile } from './merge.js';
import { parseParams } from './params.js';
import { renderUserData, type Rendered } from './render.js';
import { loadVersions, type Versions } from './versions.js';

/** Inputs of a render, as given on the command line. */
export interface RenderRequest {
  profile: string;
  profilesDir: string;
  /** versions.yaml; default `<profilesDir>/versions.yaml` when it exists. */
  versionsFile?: string;
  set: readonly string[];
}

/** The resolved profile and its rendered user-data. */
export async function renderProfile(request: RenderRequest): Promise<{ profile: ResolvedProfile; rendered: Rendered; versions?: Versions }> {
  const params = parseParams(request.set);
  const profile = await resolveProfile(request.profilesDir, request.profile);
  const defaultVersions = path.join(request.profilesDir, 'versions.yaml');
  const versionsFile = request.versionsFile ?? (existsSync(defaultVersions) ? defaultVersions : undefined);
  const versions = versionsFile && (request.versionsFile || profile.parts.downloads.length) ? await loadVersions(versionsFile) : undefined;
  return { profile, rendered: renderUserData(profile, params, versions), ...(versions ? { versions } : {}) };
}
