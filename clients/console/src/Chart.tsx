import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Line {
  label: string;
  colour: string;
  values: (number | null)[];
  bars?: boolean;
}

/**
 * A chart (uPlot, bundled): one line or bar series per Line over x, sized
 * to its box. x is seconds since the epoch for a time axis, or bucket
 * indexes with xLabels for a histogram.
 */
export function Chart({ title, x, lines, xLabels, yLabel }: { title: string; x: number[]; lines: Line[]; xLabels?: string[]; yLabel?: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const box = el.current;
    if (!box) {
      return;
    }
    const bars = uPlot.paths.bars?.({ size: [0.7, 60] });
    const opts: uPlot.Options = {
      title,
      width: Math.max(300, box.clientWidth),
      height: 260,
      // y from 0, so a single value or a flat line is drawn, not lost in an auto range
      scales: { x: { time: !xLabels }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        xLabels ? { values: (_u, ticks) => ticks.map((t) => xLabels[t] ?? "") } : {},
        { label: yLabel ?? "", size: 60 },
      ],
      series: [
        {},
        ...lines.map((l) => ({
          label: l.label,
          stroke: l.colour,
          fill: l.bars ? `${l.colour}99` : undefined,
          width: 2,
          spanGaps: false,
          ...(l.bars && bars ? { paths: bars, points: { show: false } } : { points: { show: true, size: 5 } }),
        })),
      ],
    };
    const plot = new uPlot(opts, [x, ...lines.map((l) => l.values)] as uPlot.AlignedData, box);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(300, box.clientWidth), height: 260 }));
    resize.observe(box);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [title, x, lines, xLabels, yLabel]);
  return <div className="chart" ref={el} role="img" aria-label={title} />;
}
