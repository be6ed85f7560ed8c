// The reference LiveStore sync backend, written as the @livestore/sync-cf
// 0.4.0 documentation shows it: the library's Durable Object class and its
// worker entry, with default options. The documentation's example hooks
// only console.log every push and pull; they are left out because they
// would slow the reference down (the duro side logs nothing per request),
// as is the example's authToken check (duro runs without auth here too).
import { makeDurableObject, makeWorker } from '@livestore/sync-cf/cf-worker'

export class SyncBackendDO extends makeDurableObject({}) {}

export default makeWorker({
  syncBackendBinding: 'SYNC_BACKEND_DO',
  enableCORS: true,
})
