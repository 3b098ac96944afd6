/**
 * Drawing into the console's SVG figures: their markup replaced, their
 * accessible <title> kept; and the world map with each country's outline
 * classed (the fences, manifest and what-if pages colour countries).
 */
import type { ConsoleBaseMap } from '../protocol/console-answers.js';

/** Replaces what `svg` shows with `markup` (trusted or escaped by the caller), at `width` × `height`, keeping its <title>. */
export function drawSvg(svg: SVGSVGElement, width: number, height: number, markup: string): void {
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const title = svg.querySelector('title')?.outerHTML ?? '';
  svg.innerHTML = `${title}${markup}`;
}

/** Draws the world map (and `overlay` over it), giving each country outline the class `classOf` names for its code, if any. */
export function paintWorld(svg: SVGSVGElement, base: ConsoleBaseMap, classOf: (code: string) => string | undefined, overlay = ''): void {
  drawSvg(svg, base.width, base.height, `${base.countries}${overlay}`);
  for (const path of svg.querySelectorAll<SVGPathElement>('path[data-country]')) {
    const cls = classOf(path.dataset.country ?? '');
    if (cls !== undefined) path.classList.add(cls);
  }
}
