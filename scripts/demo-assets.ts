/** The demo's dataset: hourly temperature readings from three sensors, generated deterministically. */
export function sensorCsv(): string {
  const rows = ['sensor,hour,celsius'];
  for (const sensor of ['north', 'south', 'roof']) {
    for (let hour = 0; hour < 48; hour++) {
      const base = sensor === 'roof' ? 24 : sensor === 'south' ? 20 : 16;
      const celsius = base + 6 * Math.sin(((hour % 24) - 9) * (Math.PI / 12)) + ((hour * 7 + sensor.length) % 5) / 10;
      rows.push(`${sensor},${hour},${celsius.toFixed(2)}`);
    }
  }
  return rows.join('\n') + '\n';
}

/**
 * The demo's algorithm, run by the consumer on the publisher's data: per-sensor statistics. It sees the dataset
 * under /data/inputs/<did>/0 and writes what it finds to /data/outputs.
 */
export const SENSOR_STATS_ALGORITHM = `
const fs = require('fs');
const path = require('path');
const did = JSON.parse(process.env.DIDS)[0];
const csv = fs.readFileSync(path.join(process.env.INPUTS, did, '0'), 'utf8').trim().split('\\n').slice(1);
const stats = {};
for (const line of csv) {
  const [sensor, , celsius] = line.split(',');
  const s = (stats[sensor] ??= { readings: 0, sum: 0, min: Infinity, max: -Infinity });
  const t = Number(celsius);
  s.readings++; s.sum += t; s.min = Math.min(s.min, t); s.max = Math.max(s.max, t);
}
for (const [sensor, s] of Object.entries(stats)) {
  s.mean = Number((s.sum / s.readings).toFixed(2));
  delete s.sum;
  console.log(sensor + ': ' + s.readings + ' readings, mean ' + s.mean + ' C, range ' + s.min + '..' + s.max);
}
fs.writeFileSync(path.join(process.env.OUTPUTS, 'stats.json'), JSON.stringify(stats, null, 2));
fs.mkdirSync(path.join(process.env.OUTPUTS, 'charts'), { recursive: true });
const bars = Object.entries(stats).map(([k, s]) => k.padEnd(6) + ' ' + '#'.repeat(Math.round(s.mean))).join('\\n');
fs.writeFileSync(path.join(process.env.OUTPUTS, 'charts', 'means.txt'), bars + '\\n');
console.log('wrote stats.json and charts/means.txt');
`;
