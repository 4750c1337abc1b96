import { MongoClient } from 'mongodb';
const c = await MongoClient.connect('mongodb://127.0.0.1:27017');
const db = c.db('probe_del');
await db.dropDatabase();
const col = db.collection<any>('syncChanges');
let t = Date.now();
for (let s = 0; s < 110; s += 10) {
  const docs = [];
  for (let k = s; k < s + 10; k++) for (let i = 0; i < 1000; i++) docs.push({ _id: `run:${String(k * 10000 + i + 1).padStart(9, '0')}`, runId: 'run', companyId: 'co', seq: k * 10000 + i + 1, luccaUserId: i, profileId: null, action: 'skip', fields: null, target: null, reason: null, reasons: [] });
  await col.insertMany(docs, { ordered: false });
}
console.log('insert', Date.now() - t); t = Date.now();
const seqs = (await col.find({ runId: 'run' }, { projection: { seq: 1 } }).toArray()).length;
console.log('find proj', seqs, Date.now() - t); t = Date.now();
console.log(await col.countDocuments({ runId: 'run', seq: { $gte: 1, $lte: 100000 } }), 'count range', Date.now() - t); t = Date.now();
await col.deleteMany({ runId: 'run', seq: { $gte: 1, $lte: 100000 } });
console.log('delete 10k', Date.now() - t); t = Date.now();
await col.deleteMany({ _id: { $gte: 'run:000100001', $lte: 'run:000200000' } });
console.log('delete 10k by _id range', Date.now() - t); t = Date.now();
await db.dropDatabase(); await c.close();
