/**
 * The documents of a cloud-init NoCloud seed: they become files on an ISO labelled `cidata`.
 * They may hold user-controlled text (hostname, SSH keys, arbitrary user-data); they are only
 * ever written as file contents, never passed as arguments or used in paths.
 */
export interface SeedIsoDocuments {
  /** The `meta-data` document (YAML, usually `instance-id` and `local-hostname`). */
  metaData: string;
  /** The `user-data` document (`#cloud-config`, a script, or a MIME multipart). */
  userData: string;
  /** The `network-config` document; omitted from the ISO when undefined. */
  networkConfig?: string;
}
