// noVNC ships no types: the part of its RFB class the console uses.
declare module '@novnc/novnc' {
  export default class RFB extends EventTarget {
    constructor(target: HTMLElement, url: string, options?: { shared?: boolean; credentials?: { password?: string } });
    scaleViewport: boolean;
    background: string;
    disconnect(): void;
    focus(): void;
  }
}
