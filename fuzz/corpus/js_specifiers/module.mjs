import x, { y as z } from 'x';
import 'side';
export * from "./local.js";
export { w } from 'w/sub';
const m = await import('node:fs');
import.meta.url;
