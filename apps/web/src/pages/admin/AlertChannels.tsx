import type { components } from '@limen/sdk';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatNumber } from '../../i18n';
import { DeletableTable } from '../../ui/DeletableTable';
import { ErrorLine, Loading } from '../../ui/Status';

type CreateChannel = components['schemas']['CreateAlertChannelDto'];
type Channel = components['schemas']['AlertChannelDto'];
type TestResult = components['schemas']['ChannelTestResultDto'];
const TYPES: CreateChannel['type'][] = ['webhook', 'email', 'log'];
const SEVERITIES: NonNullable<CreateChannel['minSeverity']>[] = ['info', 'warning', 'critical'];

/** Notification channels: list, add (the fields each type takes), send a test, delete. */
export function AlertChannels() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [type, setType] = useState<CreateChannel['type']>('webhook');
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [recipients, setRecipients] = useState('');
  const [secret, setSecret] = useState('');
  const [minSeverity, setMinSeverity] = useState<(typeof SEVERITIES)[number]>('info');
  const [tested, setTested] = useState<{ channel: Channel; result: TestResult } | null>(null);
  const channels = useQuery({
    queryKey: ['alert-channels'],
    queryFn: async () => unwrap(await api.GET('/api/v1/alert-channels', { params: { query: { limit: 500 } } })),
  });
  const create = useMutation({
    mutationFn: async () => {
      const body: CreateChannel = { type, name: name.trim(), minSeverity };
      if (type === 'webhook') {
        body.url = url.trim();
        if (secret) body.secret = secret;
      }
      if (type === 'email') body.recipients = recipients.split(/[\s,]+/).filter(Boolean);
      return unwrap(await api.POST('/api/v1/alert-channels', { body }));
    },
    onSuccess: () => {
      setName('');
      setUrl('');
      setRecipients('');
      setSecret('');
      void client.invalidateQueries({ queryKey: ['alert-channels'] });
    },
  });
  const test = useMutation({
    mutationFn: async (channel: Channel) =>
      unwrap(await api.POST('/api/v1/alert-channels/{id}/test', { params: { path: { id: channel.id } } })),
    onMutate: () => setTested(null),
    onSuccess: (result, channel) => setTested({ channel, result }),
  });
  const remove = useMutation({
    mutationFn: async (id: string) =>
      unwrap(await api.DELETE('/api/v1/alert-channels/{id}', { params: { path: { id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['alert-channels'] }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  if (channels.isPending) return <Loading />;
  const items = channels.data?.items ?? [];
  return (
    <>
      <h2>{t('alerts.channels')}</h2>
      <ErrorLine error={channels.error ?? remove.error ?? test.error} />
      {tested && (
        <p role="status" data-test-result={tested.result.delivered ? 'delivered' : 'failed'}>
          {tested.result.delivered
            ? t('channels.tested', { name: tested.channel.name, ms: formatNumber(tested.result.latencyMs) })
            : t('channels.testFailed', { name: tested.channel.name, error: tested.result.error ?? '' })}
        </p>
      )}
      {items.length === 0 ? (
        <p className="muted">{t('channels.none')}</p>
      ) : (
        <DeletableTable
          items={items}
          rowData={(channel) => ({ 'data-channel': channel.name })}
          columns={[
            {
              header: t('channels.name'),
              cell: (channel) => (
                <>
                  {channel.name}
                  {!channel.enabled && <small className="block">{t('rules.off')}</small>}
                </>
              ),
            },
            { header: t('channels.type'), cell: (channel) => t(`channels.types.${channel.type}`) },
            {
              header: t('channels.target'),
              className: 'wide',
              cell: (channel) => channel.url ?? channel.recipients.join(', '),
            },
            {
              header: t('channels.minSeverity'),
              className: 'wide',
              cell: (channel) => <span className={`badge severity-${channel.minSeverity}`}>{channel.minSeverity}</span>,
            },
          ]}
          actions={(channel) => (
            <button type="button" disabled={test.isPending} onClick={() => test.mutate(channel)}>
              {t('channels.test', { name: channel.name })}
            </button>
          )}
          deleteLabel={(channel) => t('channels.delete', { name: channel.name })}
          deleteQuestion={(channel) => t('channels.deleteQuestion', { name: channel.name })}
          deleteDisabled={() => remove.isPending}
          onDelete={(channel) => remove.mutate(channel.id)}
        />
      )}
      <h3 id="channel-form">{t('channels.new')}</h3>
      {create.data?.secret && (
        <p role="status" className="recovery">
          {t('channels.secretShown')} <code data-channel-secret>{create.data.secret}</code>
        </p>
      )}
      <form onSubmit={submit} className="stack" aria-labelledby="channel-form">
        <label>
          {t('channels.name')}
          <input required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          {t('channels.type')}
          <select value={type} onChange={(e) => setType(e.target.value as CreateChannel['type'])}>
            {TYPES.map((option) => (
              <option key={option} value={option}>
                {t(`channels.types.${option}`)}
              </option>
            ))}
          </select>
        </label>
        {type === 'webhook' && (
          <>
            <label>
              {t('channels.url')}
              <input
                required
                type="url"
                maxLength={2048}
                placeholder="https://hooks.example.com/limen"
                value={url}
                onChange={(e) => setUrl(e.target.value)}
              />
            </label>
            <label>
              {t('channels.secret')}
              <input
                type="password"
                autoComplete="new-password"
                minLength={16}
                maxLength={256}
                value={secret}
                onChange={(e) => setSecret(e.target.value)}
              />
            </label>
          </>
        )}
        {type === 'email' && (
          <label>
            {t('channels.recipients')}
            <textarea required rows={3} value={recipients} onChange={(e) => setRecipients(e.target.value)} />
          </label>
        )}
        <label>
          {t('channels.minSeverity')}
          <select value={minSeverity} onChange={(e) => setMinSeverity(e.target.value as (typeof SEVERITIES)[number])}>
            {SEVERITIES.map((severity) => (
              <option key={severity}>{severity}</option>
            ))}
          </select>
        </label>
        <div>
          <button type="submit" className="primary" disabled={create.isPending}>
            {t('channels.create')}
          </button>
        </div>
        <ErrorLine error={create.error} />
      </form>
    </>
  );
}
