import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRef, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { UploadConnectionError, uploadImage } from '../../api/upload';
import { api } from '../../auth/session';
import { formatBytes, formatDate } from '../../i18n';
import { DeletableTable } from '../../ui/DeletableTable';
import { ErrorLine, Loading } from '../../ui/Status';

/** Upload a file with a live progress bar (bytes sent, from XMLHttpRequest's upload events). */
function UploadForm() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [sent, setSent] = useState<{ sent: number; total: number } | null>(null);
  const abort = useRef<AbortController | null>(null);
  const upload = useMutation({
    mutationFn: async () => {
      abort.current = new AbortController();
      setSent({ sent: 0, total: file!.size });
      return uploadImage(file!, name.trim(), (done, total) => setSent({ sent: done, total }), abort.current.signal);
    },
    onSuccess: () => client.invalidateQueries({ queryKey: ['images'] }),
    onSettled: () => (abort.current = null),
  });
  const choose = (chosen: File | null) => {
    setFile(chosen);
    setName(chosen?.name ?? '');
    setSent(null);
    upload.reset();
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (file) upload.mutate();
  };
  const error = upload.error;
  return (
    <form onSubmit={submit} className="stack upload" aria-labelledby="upload-title">
      <h2 id="upload-title">{t('images.upload')}</h2>
      <label>
        {t('images.file')}
        <input
          type="file"
          required
          accept=".qcow2,.img,.raw,.iso"
          aria-describedby="upload-file-hint"
          disabled={upload.isPending}
          onChange={(e) => choose(e.target.files?.[0] ?? null)}
        />
      </label>
      <small id="upload-file-hint">{t('images.fileHint')}</small>
      <label>
        {t('images.fileName')}
        <input
          required
          maxLength={133}
          autoComplete="off"
          value={name}
          disabled={upload.isPending}
          aria-describedby="upload-name-hint"
          onChange={(e) => setName(e.target.value)}
        />
      </label>
      <small id="upload-name-hint">{t('images.fileNameHint')}</small>
      <div className="actions">
        <button type="submit" className="primary" disabled={!file || upload.isPending}>
          {t('images.send')}
        </button>
        {upload.isPending && (
          <button type="button" onClick={() => abort.current?.abort()}>
            {t('images.abort')}
          </button>
        )}
      </div>
      {sent && (
        <div>
          <label htmlFor="upload-progress">{t('images.progress')}</label>
          <progress id="upload-progress" max={sent.total} value={sent.sent} />
          <small className="block">
            {t('images.sent', { sent: formatBytes(sent.sent), total: formatBytes(sent.total) })}
          </small>
        </div>
      )}
      {upload.isSuccess && <p role="status">{t('images.uploaded', { name: upload.data.name })}</p>}
      {error instanceof DOMException && error.name === 'AbortError' ? (
        <p role="status">{t('images.aborted')}</p>
      ) : error instanceof UploadConnectionError ? (
        <p role="alert" className="error">
          {t('images.connectionLost')}
        </p>
      ) : (
        <ErrorLine error={error} />
      )}
    </form>
  );
}

/** Boot images and templates (admins see all), with upload and delete. */
export function ImagesPage() {
  const { t } = useTranslation();
  const client = useQueryClient();
  // Same key and page as the create screen's image list, so an upload shows there too.
  const images = useQuery({
    queryKey: ['images'],
    queryFn: async () => unwrap(await api.GET('/api/v1/images', { params: { query: { limit: 500 } } })),
  });
  const remove = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE('/api/v1/images/{id}', { params: { path: { id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['images'] }),
  });
  if (images.isPending) return <Loading />;
  const items = images.data?.items ?? [];
  return (
    <section aria-labelledby="images-title" className="admin">
      <h1 id="images-title">{t('images.title')}</h1>
      <ErrorLine error={images.error ?? remove.error} />
      {items.length === 0 ? (
        <p className="muted">{t('images.none')}</p>
      ) : (
        <DeletableTable
          items={items}
          rowData={(image) => ({ 'data-image': image.name })}
          columns={[
            {
              header: t('images.name'),
              cell: (image) => (
                <>
                  {image.name}
                  {!image.available && <small className="block error">{t('images.missing')}</small>}
                  {image.state === 'creating' && <small className="block">{t('state.provisioning')}</small>}
                </>
              ),
            },
            { header: t('images.kind'), cell: (image) => t(`images.kinds.${image.kind}`) },
            { header: t('images.size'), cell: (image) => formatBytes(image.sizeBytes) },
            {
              header: t('images.visibility'),
              className: 'wide',
              cell: (image) => t(`images.visibilities.${image.visibility}`),
            },
            { header: t('vms.created'), className: 'wide', cell: (image) => formatDate(image.createdAt) },
          ]}
          deleteLabel={(image) => t('images.delete', { name: image.name })}
          deleteQuestion={(image) => t('images.deleteQuestion', { name: image.name })}
          deleteDisabled={(image) => remove.isPending || image.state !== 'ready'}
          onDelete={(image) => remove.mutate(image.id)}
        />
      )}
      <UploadForm />
    </section>
  );
}
