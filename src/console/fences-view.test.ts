import { describe, expect, it } from 'vitest';
import { listText, litCountries, mapCountries } from './fences-view.js';

describe('the fences page', () => {
  it('offers the countries the map names, by name, once each', () => {
    const countries = '<g class="land"><path d="M0,0" data-country="DE"><title>Germany</title></path><path d="M1,1"><title>N. Cyprus</title></path><path d="M2,2" data-country="BA"><title>Bosnia and Herz.</title></path><path d="M3,3" data-country="DE"><title>Germany</title></path><path d="M4,4" data-country="TT"><title>Trinidad &amp; Tobago</title></path></g>';
    expect(mapCountries({ width: 1, height: 1, countries, datacenters: [] })).toEqual([
      { code: 'BA', name: 'Bosnia and Herz.' },
      { code: 'DE', name: 'Germany' },
      { code: 'TT', name: 'Trinidad & Tobago' },
    ]);
  });

  it('lights a country’s jurisdictions and marks it chosen, or a datacenter’s countries, and nothing before a choice', () => {
    const country = litCountries({ kind: 'country', answer: { country: 'DE', name: 'Germany', fences: [], jurisdictions: ['DE', 'FR'], datacenters: [] } });
    expect([[...country.lit], country.chosen]).toEqual([['DE', 'FR'], 'DE']);
    const dc = litCountries({ kind: 'datacenter', answer: { datacenter: 'cn-beijing', jurisdiction: 'CN', countries: ['CN'] } });
    expect([[...dc.lit], dc.chosen]).toEqual([['CN'], undefined]);
    expect(litCountries(undefined).lit.size).toBe(0);
  });

  it('says long lists short', () => {
    expect(listText([])).toBe('none');
    expect(listText(['A', 'B', 'C'], 2)).toBe('A, B and 1 more');
  });
});
