import { ConfigError } from '@limen/env';
import { sharedLimitsSettings } from './limits-config';

describe('sharedLimitsSettings', () => {
  const url = 'postgres://root@127.0.0.1:5432/limen';

  it('shares limits through PostgreSQL when there is a DATABASE_URL, per replica on the embedded database', () => {
    expect(sharedLimitsSettings({}, url)).toEqual({ store: 'postgres' });
    expect(sharedLimitsSettings({}, undefined)).toEqual({ store: 'replica' });
    expect(sharedLimitsSettings({ LIMITS_STORE: 'replica' }, url)).toEqual({ store: 'replica' });
  });

  it('refuses a shared store the embedded database cannot be, and unknown stores', () => {
    expect(() => sharedLimitsSettings({ LIMITS_STORE: 'postgres' }, undefined)).toThrow(ConfigError);
    expect(() => sharedLimitsSettings({ LIMITS_STORE: 'memcached' }, url)).toThrow(/LIMITS_STORE/);
  });
});
