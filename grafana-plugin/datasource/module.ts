import { DataSourcePlugin } from '@grafana/data';
import { ConfigEditor } from './ConfigEditor';
import { TrustDataSource } from './datasource';
import { QueryEditor } from './QueryEditor';
import type { TrustOptions, TrustQuery, TrustSecureOptions } from './types';

export const plugin = new DataSourcePlugin<TrustDataSource, TrustQuery, TrustOptions, TrustSecureOptions>(TrustDataSource)
  .setConfigEditor(ConfigEditor)
  .setQueryEditor(QueryEditor);
