// Reliability suite: fault injection (libvirtd, the database, the api process and QEMU killed; a
// full VM_DIR), load and soak, and property-based tests. These tests stop shared daemons and load
// the whole machine, so CI runs them alone and in band, after the e2e suites.
const e2e = require('./jest.e2e.config');

module.exports = {
  ...e2e,
  testRegex: 'test/reliability/.*\\.spec\\.ts$',
  testTimeout: 180000,
  // Faults and hostile input test survival, not the contract; the e2e suites hold the responses to the spec.
  setupFilesAfterEnv: [],
};
