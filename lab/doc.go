// Package lab runs BioNAS work — searches, trainings, retrainings and attack
// reports — as cancellable background jobs, keeps every run in a folder on
// disk, and fans the runs' events out to any number of viewers.
//
// # Runs
//
// A run has an ID ("r0001", "r0002", … in creation order), a Kind (search,
// train, retrain, attack), the Spec it was started with, an optional parent
// run (a retrain records the run and the rule edits it came from; an attack
// records the model it attacks) and a Status:
//
//	queued → running → done | failed | interrupted
//	interrupted | failed → (Resume) → queued → …
//
// Its folder, <lab dir>/runs/<id>/, holds
//
//   - run.json: the RunInfo (kind, spec, status, parent, edits, timestamps,
//     the latest numbers);
//   - metrics.jsonl: one Event per line, the step and epoch metrics;
//   - alphas.json, genotype.json (+ genotype.txt), layers.json, attack.json:
//     the latest snapshots, when the job produced them;
//   - whatever the job writes itself (model.safetensors + model.json, the
//     checkpoint folder ckpt/).
//
// Every file the lab writes is replaced atomically (nn.WriteFileAtomic: a
// temporary file, fsync, rename), so a crash at any moment leaves each file
// either as it was or as it is now. Metrics are held in memory and the
// files are rewritten at most once per Options.FlushInterval by a writer
// goroutine of the run, never from the training goroutine.
//
// Open reloads every run of the folder. A run that was queued or running
// when the previous process died is marked interrupted and can be resumed:
// the job is started again with Job.Resume set, and picks up its own
// checkpoint if it has one.
//
// # Jobs
//
// The lab does not train anything itself: a Backend maps each Kind to a
// JobFunc. A JobFunc runs in its own goroutine with a context that is
// cancelled by Stop and Close; it reports through Job.Emit, which never
// blocks. At most Options.MaxConcurrent jobs run at once; the others wait
// in a first-in, first-out queue.
//
// Engine (engine.go, attack_engine.go) is the real backend: searches with
// package search, trainings and retrainings of the discrete network of a
// genotype (a retrain trains from scratch with the parent's seed, so that
// a comparison isolates the rule edits), and attacks with package attacks
// (an attack stepper on one test image; robustness reports with the
// pointwise worst case), all on EngineOptions.Device (the CPU by default,
// or the GPU of bionas --device cuda). A Backend names its device; the lab
// records it in each run's Spec.Device when the run starts and when it
// resumes, and viewers show it. Package labtest holds a deterministic fake
// backend for tests.
//
// # Events
//
// Subscribe returns a Subscription that receives every run's events without
// ever slowing a job down: publishing appends to the subscription's bounded
// buffer under a short lock and signals a channel without blocking. Status,
// alphas, genotype and attack events are coalesced to the latest per run;
// step and epoch points are kept in order up to a bound, beyond which the
// subscription drops that run's pending points and asks the viewer to
// resynchronise from Snapshot. A viewer drains at its own pace (a terminal
// at most ~10 times a second).
package lab
