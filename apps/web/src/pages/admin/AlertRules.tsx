import type { components } from '@limen/sdk';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRef, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatNumber } from '../../i18n';
import { DeletableTable } from '../../ui/DeletableTable';
import { ErrorLine, Loading } from '../../ui/Status';

type Rule = components['schemas']['AlertRuleDto'];
type CreateRule = components['schemas']['CreateAlertRuleDto'];
const METRICS: CreateRule['metric'][] = [
  'host.cpu.percent',
  'host.memory.percent',
  'host.disk.percent',
  'vm.crashed',
  'quota.usage.percent',
  'hypervisor.up',
  'agent.up',
  'host.up',
];
const COMPARATORS: CreateRule['comparator'][] = ['>', '>=', '<', '<=', '=='];
const SEVERITIES: NonNullable<CreateRule['severity']>[] = ['info', 'warning', 'critical'];

type Draft = { name: string; metric: CreateRule['metric']; comparator: CreateRule['comparator'] } & {
  threshold: string;
  for: string;
  severity: NonNullable<CreateRule['severity']>;
  enabled: boolean;
};
const EMPTY: Draft = {
  name: '',
  metric: 'host.disk.percent',
  comparator: '>=',
  threshold: '',
  for: '0',
  severity: 'warning',
  enabled: true,
};
const draftOf = (rule: Rule): Draft => ({
  name: rule.name,
  metric: rule.metric,
  comparator: rule.comparator,
  threshold: String(rule.threshold),
  for: String(rule.for),
  severity: rule.severity,
  enabled: rule.enabled,
});

/** Alert rules: list, and one form that adds a rule or edits the one picked in the list. */
export function AlertRules() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [editing, setEditing] = useState<Rule | null>(null);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const nameField = useRef<HTMLInputElement>(null);
  const rules = useQuery({
    queryKey: ['alert-rules'],
    queryFn: async () => unwrap(await api.GET('/api/v1/alert-rules', { params: { query: { limit: 500 } } })),
  });
  const changed = () => {
    setEditing(null);
    setDraft(EMPTY);
    // Rules' names and conditions also show in the firing list.
    void client.invalidateQueries({ queryKey: ['alert-rules'] });
    void client.invalidateQueries({ queryKey: ['alerts'] });
  };
  const save = useMutation({
    mutationFn: async () => {
      const body = { ...draft, name: draft.name.trim(), threshold: Number(draft.threshold), for: Number(draft.for) };
      return editing
        ? unwrap(await api.PATCH('/api/v1/alert-rules/{id}', { params: { path: { id: editing.id } }, body }))
        : unwrap(await api.POST('/api/v1/alert-rules', { body }));
    },
    onSuccess: changed,
  });
  const remove = useMutation({
    mutationFn: async (id: string) =>
      unwrap(await api.DELETE('/api/v1/alert-rules/{id}', { params: { path: { id } } })),
    onSuccess: changed,
  });
  const edit = (rule: Rule | null) => {
    setEditing(rule);
    setDraft(rule ? draftOf(rule) : EMPTY);
    save.reset();
    // The form is below the list: take the keyboard (and the view) there.
    if (rule) nameField.current?.focus();
  };
  const set = <K extends keyof Draft>(key: K, value: Draft[K]) => setDraft((now) => ({ ...now, [key]: value }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  if (rules.isPending) return <Loading />;
  const items = rules.data?.items ?? [];
  return (
    <>
      <h2>{t('alerts.rules')}</h2>
      <ErrorLine error={rules.error ?? remove.error} />
      {items.length === 0 ? (
        <p className="muted">{t('rules.none')}</p>
      ) : (
        <DeletableTable
          items={items}
          rowData={(rule) => ({ 'data-rule': rule.name })}
          columns={[
            { header: t('rules.name'), cell: (rule) => rule.name },
            {
              header: t('rules.condition'),
              cell: (rule) => (
                <>
                  <code>
                    {rule.metric} {rule.comparator} {formatNumber(rule.threshold)}
                  </code>
                  {rule.for > 0 && <small> ({formatNumber(rule.for)} s)</small>}
                </>
              ),
            },
            {
              header: t('alerts.severity'),
              className: 'wide',
              cell: (rule) => <span className={`badge severity-${rule.severity}`}>{rule.severity}</span>,
            },
            {
              header: t('rules.enabled'),
              className: 'wide',
              cell: (rule) => (rule.enabled ? t('rules.on') : t('rules.off')),
            },
          ]}
          actions={(rule) => (
            <button type="button" onClick={() => edit(rule)}>
              {t('rules.edit', { name: rule.name })}
            </button>
          )}
          deleteLabel={(rule) => t('rules.delete', { name: rule.name })}
          deleteQuestion={(rule) => t('rules.deleteQuestion', { name: rule.name })}
          deleteDisabled={() => remove.isPending}
          onDelete={(rule) => remove.mutate(rule.id)}
        />
      )}
      <h3 id="rule-form">{editing ? t('rules.editing', { name: editing.name }) : t('rules.new')}</h3>
      <form onSubmit={submit} className="stack" aria-labelledby="rule-form">
        <label>
          {t('rules.name')}
          <input
            ref={nameField}
            required
            maxLength={100}
            value={draft.name}
            onChange={(e) => set('name', e.target.value)}
          />
        </label>
        <label>
          {t('rules.metric')}
          <select value={draft.metric} onChange={(e) => set('metric', e.target.value as Draft['metric'])}>
            {METRICS.map((metric) => (
              <option key={metric}>{metric}</option>
            ))}
          </select>
        </label>
        <div className="row3">
          <label>
            {t('rules.comparator')}
            <select value={draft.comparator} onChange={(e) => set('comparator', e.target.value as Draft['comparator'])}>
              {COMPARATORS.map((comparator) => (
                <option key={comparator}>{comparator}</option>
              ))}
            </select>
          </label>
          <label>
            {t('rules.threshold')}
            <input
              required
              type="number"
              step="any"
              value={draft.threshold}
              onChange={(e) => set('threshold', e.target.value)}
            />
          </label>
          <label>
            {t('alerts.severity')}
            <select value={draft.severity} onChange={(e) => set('severity', e.target.value as Draft['severity'])}>
              {SEVERITIES.map((severity) => (
                <option key={severity}>{severity}</option>
              ))}
            </select>
          </label>
        </div>
        <label>
          {t('rules.for')}
          <input
            required
            type="number"
            min={0}
            max={604800}
            className="narrow"
            value={draft.for}
            aria-describedby="rule-for-hint"
            onChange={(e) => set('for', e.target.value)}
          />
        </label>
        <small id="rule-for-hint">{t('rules.forHint')}</small>
        <label className="check">
          <input type="checkbox" checked={draft.enabled} onChange={(e) => set('enabled', e.target.checked)} />
          {t('rules.enabled')}
        </label>
        <div className="actions">
          <button type="submit" className="primary" disabled={save.isPending}>
            {editing ? t('rules.save') : t('rules.create')}
          </button>
          {editing && (
            <button type="button" onClick={() => edit(null)}>
              {t('rules.cancel')}
            </button>
          )}
        </div>
        <ErrorLine error={save.error} />
      </form>
    </>
  );
}
