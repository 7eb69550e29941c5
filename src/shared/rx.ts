/**
 * The RxJS the conductor uses, imported from the modules that define it. The package's root
 * entry loads all of RxJS (~230 modules, +7 MB of heap in every process that imports it, the
 * conductor's idle RSS included); these few cost ~2 MB. RxJS 7 exports `rxjs/internal/*` in its
 * package.json, and the version is pinned exactly, so the paths cannot move under us; types
 * come from the root (type imports load nothing).
 */
export { Subject } from 'rxjs/internal/Subject';
export { filter } from 'rxjs/internal/operators/filter';
export { map } from 'rxjs/internal/operators/map';
export type { Observable, Observer, OperatorFunction, Subscription } from 'rxjs';
