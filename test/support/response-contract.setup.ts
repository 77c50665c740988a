import { enableResponseContract, takeViolations } from './response-contract';

// Every response of the e2e suites is checked against docs/openapi.json (see response-contract.ts);
// a test fails for the violations recorded while it ran, and the file for any recorded after the last one.
enableResponseContract();

afterEach(() => {
  expect(takeViolations()).toEqual([]);
});

afterAll(() => {
  expect(takeViolations()).toEqual([]);
});
