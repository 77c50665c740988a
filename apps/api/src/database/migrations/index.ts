import { UsersAndTokens1764140000000 } from './1764140000000-users-and-tokens';
import { VmsImagesQuotasOperationsEvents1764150000000 } from './1764150000000-vms-images-quotas-operations-events';
import { Alerting1764160000000 } from './1764160000000-alerting';
import { AuditLog1764170000000 } from './1764170000000-audit-log';
import { ConsoleTickets1764180000000 } from './1764180000000-console-tickets';
import { Hosts1764190000000 } from './1764190000000-hosts';
import { VmRunningResources1764200000000 } from './1764200000000-vm-running-resources';
import { LoginFailures1764201300000 } from './1764201300000-login-failures';
import { SnapshotStorage1764210000000 } from './1764210000000-snapshot-storage';
import { ConsoleTicketAccess1764220000000 } from './1764220000000-console-ticket-access';
import { Networks1764300000000 } from './1764300000000-networks';
import { Storage1764400000000 } from './1764400000000-storage';
import { HostStoragePools1764405000000 } from './1764405000000-host-storage-pools';
import { HostImageUploads1764406000000 } from './1764406000000-host-image-uploads';
import { ImageDigestStamp1764407000000 } from './1764407000000-image-digest-stamp';
import { Copies1764500000000 } from './1764500000000-copies';
import { ImageDescription1764510000000 } from './1764510000000-image-description';
import { ApiTokens1764600000000 } from './1764600000000-api-tokens';
import { SecondFactor1764610000000 } from './1764610000000-second-factor';
import { OidcIdentities1764620000000 } from './1764620000000-oidc-identities';
import { SharedLimits1764700000000 } from './1764700000000-shared-limits';
import { VmChangeNotify1764800000000 } from './1764800000000-vm-change-notify';
import { SessionRevocations1764900000000 } from './1764900000000-session-revocations';
import { OidcLoginBinding1764910000000 } from './1764910000000-oidc-login-binding';
import { EventVmIndex1764920000000 } from './1764920000000-event-vm-index';
import { ConsoleTicketSession1764930000000 } from './1764930000000-console-ticket-session';

/** Every migration, in order. Listed explicitly so the webpack bundle carries them. */
export const MIGRATIONS = [
  UsersAndTokens1764140000000,
  VmsImagesQuotasOperationsEvents1764150000000,
  Alerting1764160000000,
  AuditLog1764170000000,
  ConsoleTickets1764180000000,
  Hosts1764190000000,
  VmRunningResources1764200000000,
  LoginFailures1764201300000,
  SnapshotStorage1764210000000,
  ConsoleTicketAccess1764220000000,
  Networks1764300000000,
  Storage1764400000000,
  HostStoragePools1764405000000,
  HostImageUploads1764406000000,
  ImageDigestStamp1764407000000,
  Copies1764500000000,
  ImageDescription1764510000000,
  ApiTokens1764600000000,
  SecondFactor1764610000000,
  OidcIdentities1764620000000,
  SharedLimits1764700000000,
  VmChangeNotify1764800000000,
  SessionRevocations1764900000000,
  OidcLoginBinding1764910000000,
  EventVmIndex1764920000000,
  ConsoleTicketSession1764930000000,
];
