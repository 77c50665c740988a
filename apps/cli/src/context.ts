import { Output, type OutputFormat } from './output';
import { resolveApi, Session } from './session';

export interface GlobalOptions {
  api?: string;
  output: OutputFormat;
}

/** What commands reach the global options through; the session is made on first use. */
export class Context {
  private made: Session | undefined;

  constructor(private readonly globals: () => GlobalOptions) {}

  get output(): Output {
    return new Output(this.globals().output);
  }

  session(): Session {
    this.made ??= new Session(resolveApi(this.globals().api), this.output);
    return this.made;
  }
}
