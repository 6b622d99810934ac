/**
 * PLACEHOLDER (branch inside-page): the walkthrough view is written on the
 * `walkthrough` branch; the lead takes that version at merge. This stub only
 * has the agreed signature.
 */
import type { Walkthrough } from '../../core/disk/walkthrough-types';

export function WalkthroughView({ walkthrough }: { walkthrough: Walkthrough }) {
  return (
    <ol>
      {walkthrough.steps.map((s) => (
        <li key={s.id}>{s.title}</li>
      ))}
    </ol>
  );
}
